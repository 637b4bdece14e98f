//! The model catalog: which ids clients may ask for and which model the CLI is asked for.
//!
//! Ids in `models` go to the CLI unchanged (the CLI itself resolves `opus`, `sonnet` and
//! `haiku` to the newest model of the family); ids in `aliases` are mapped first. An id in
//! neither is rejected: the proxy never substitutes a model silently.

use std::collections::BTreeMap;

use crate::config::Settings;

/// `created` timestamp reported for every model (OpenAI's shape requires one; the CLI
/// does not tell us release dates). 2025-01-01T00:00:00Z.
pub const MODEL_CREATED: i64 = 1_735_689_600;

/// [`MODEL_CREATED`] as the RFC 3339 time the Anthropic Models API's `created_at` is.
pub const MODEL_CREATED_AT: &str = "2025-01-01T00:00:00Z";

/// Resolves request model ids to CLI model arguments.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// Exposed id → model passed to `claude --model`, in listing order.
    entries: Vec<(String, String)>,
}

impl Catalog {
    pub fn from_settings(settings: &Settings) -> Catalog {
        Catalog::new(&settings.models, &settings.aliases)
    }

    pub fn new(models: &[String], aliases: &BTreeMap<String, String>) -> Catalog {
        let mut entries: Vec<(String, String)> = Vec::new();
        for (alias, target) in aliases {
            entries.push((alias.clone(), target.clone()));
        }
        for model in models {
            if !entries.iter().any(|(id, _)| id == model) {
                entries.push((model.clone(), model.clone()));
            }
        }
        Catalog { entries }
    }

    /// The model argument for the CLI, or `None` for an unknown id.
    pub fn resolve(&self, id: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, target)| target.as_str())
    }

    /// Every exposed id, in listing order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(id, _)| id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_names_map_to_cli_family_aliases() {
        let catalog = Catalog::from_settings(&Settings::default());
        assert_eq!(catalog.resolve("claude-opus-4"), Some("opus"));
        assert_eq!(catalog.resolve("claude-sonnet-4"), Some("sonnet"));
        assert_eq!(catalog.resolve("claude-haiku-4"), Some("haiku"));
        assert_eq!(catalog.resolve("opus"), Some("opus"));
        assert_eq!(
            catalog.resolve("claude-sonnet-4-5"),
            Some("claude-sonnet-4-5")
        );
    }

    #[test]
    fn unknown_ids_are_not_substituted() {
        let catalog = Catalog::from_settings(&Settings::default());
        assert_eq!(catalog.resolve("gpt-4o"), None);
        assert_eq!(catalog.resolve(""), None);
    }

    #[test]
    fn listing_has_no_duplicates() {
        let mut aliases = BTreeMap::new();
        aliases.insert("x".to_string(), "opus".to_string());
        let catalog = Catalog::new(&["x".to_string(), "opus".to_string()], &aliases);
        let ids: Vec<_> = catalog.ids().collect();
        assert_eq!(ids, vec!["x", "opus"]);
        assert_eq!(catalog.resolve("x"), Some("opus"));
    }
}
