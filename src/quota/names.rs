//! Quota windows and the plan in words: `five_hour` → "5-hour", `model_scoped` with its
//! server label → "weekly Fable", `max` → "Max", extra-usage spend in its currency. One
//! place, so the page, `status`, `/health` and the 429 messages agree.

use super::ExtraUsageState;

/// A window's name in words, for sentences ("the subscription's 5-hour limit").
pub fn window_name(window: &str) -> String {
    match window {
        "five_hour" => "5-hour".to_string(),
        "seven_day" => "weekly".to_string(),
        "seven_day_opus" => "weekly Opus".to_string(),
        "seven_day_sonnet" => "weekly Sonnet".to_string(),
        "seven_day_oauth_apps" => "weekly OAuth apps".to_string(),
        "model_scoped" => "weekly per-model".to_string(),
        "overage" => "extra-usage".to_string(),
        other => other.replace('_', " "),
    }
}

/// A window with its model label when it has one: "weekly Fable", else [`window_name`].
pub fn window_label(window: &str, model: Option<&str>) -> String {
    match model {
        Some(model) if window == "model_scoped" => format!("weekly {model}"),
        _ => window_name(window),
    }
}

/// The plan as people write it: `max` → "Max".
pub fn plan_name(subscription_type: &str) -> String {
    let mut chars = subscription_type.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Currencies without minor units (the CLI reports amounts in minor units).
const WHOLE_UNIT_CURRENCIES: &[&str] = &["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"];

/// The extra-usage spend in words: `12.34 of 50.00 USD spent this billing period`, or
/// that extra usage is off.
pub fn extra_usage_text(extra: &ExtraUsageState) -> String {
    let currency = extra.currency.as_deref().unwrap_or("USD");
    let amount = |minor: f64| {
        if WHOLE_UNIT_CURRENCIES.contains(&currency) {
            format!("{minor:.0}")
        } else {
            format!("{:.2}", minor / 100.0)
        }
    };
    let spent = match (extra.used_credits, extra.monthly_limit) {
        (Some(used), Some(limit)) => format!(
            "{} of {} {currency} spent this billing period",
            amount(used),
            amount(limit)
        ),
        (Some(used), None) => format!("{} {currency} spent this billing period", amount(used)),
        _ => "spend not reported".to_string(),
    };
    if extra.is_enabled {
        spent
    } else {
        format!("off ({spent})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_people_use() {
        assert_eq!(window_name("five_hour"), "5-hour");
        assert_eq!(window_name("seven_day_oauth_apps"), "weekly OAuth apps");
        assert_eq!(window_name("seven_day_cowork"), "seven day cowork");
        assert_eq!(window_label("model_scoped", Some("Fable")), "weekly Fable");
        assert_eq!(window_label("seven_day", Some("ignored")), "weekly");
        assert_eq!(plan_name("max"), "Max");
    }

    #[test]
    fn extra_usage_in_its_currency() {
        let mut extra = ExtraUsageState {
            is_enabled: true,
            monthly_limit: Some(5000.0),
            used_credits: Some(1234.0),
            utilization: Some(0.2468),
            currency: Some("USD".into()),
        };
        assert_eq!(
            extra_usage_text(&extra),
            "12.34 of 50.00 USD spent this billing period"
        );
        extra.currency = Some("JPY".into());
        extra.is_enabled = false;
        assert_eq!(
            extra_usage_text(&extra),
            "off (1234 of 5000 JPY spent this billing period)"
        );
    }
}
