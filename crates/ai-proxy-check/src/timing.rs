//! How times read in messages: [`duration`] for what a stage took (`0.4 ms`, `1.25 s`),
//! [`secs`] for the limits it ran under (`5 s`, `1.5 s`). Shared by the stages and the
//! report, so it sits below both.

use std::time::Duration;

/// `0.4 ms`, `12.3 ms`, `1.25 s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// `1.5 s` style seconds for messages.
pub fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(Duration::from_micros(400)), "0.4 ms");
        assert_eq!(duration(Duration::from_millis(999)), "999.0 ms");
        assert_eq!(duration(Duration::from_millis(1250)), "1.25 s");
    }

    #[test]
    fn limits_read_in_seconds() {
        assert_eq!(secs(Duration::from_secs(5)), "5 s");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5 s");
    }
}
