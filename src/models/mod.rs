//! The model catalog: which ids clients may ask for and which model the CLI is asked for.
//!
//! - Ids in `models` go to the CLI unchanged (the CLI itself resolves `opus`, `sonnet` and
//!   `haiku` to the newest model of the family); ids in `aliases` are mapped first.
//! - Any other Claude id (`claude-…`, dated or not) also goes to the CLI's `--model` as it
//!   is: whether Anthropic knows it is Anthropic's to say, and its 404 comes back as
//!   `model_not_found`.
//! - `model_map` sends ids that are not Claude's (`gpt-4o`, as OpenAI-first clients send)
//!   to a model above, on purpose. Any other id is refused at once: the proxy never
//!   substitutes a model silently.
//!
//! [`registry`] holds what the CLI knows about each model (family, limits).

pub mod registry;

use std::collections::BTreeMap;

use crate::config::{Settings, valid_model_id};

pub use registry::ModelInfo;

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
    /// `model_map`: a client's id → an id resolved through `entries` (or a Claude id).
    mapped: Vec<(String, String)>,
}

/// Whether `id` is a Claude model id the CLI can be handed as it is: `claude-` and more.
pub fn is_claude_id(id: &str) -> bool {
    id.len() > "claude-".len() && id.starts_with("claude-") && valid_model_id(id)
}

impl Catalog {
    pub fn from_settings(settings: &Settings) -> Catalog {
        Catalog::new(&settings.models, &settings.aliases, &settings.model_map)
    }

    pub fn new(
        models: &[String],
        aliases: &BTreeMap<String, String>,
        model_map: &BTreeMap<String, String>,
    ) -> Catalog {
        let mut entries: Vec<(String, String)> = Vec::new();
        for (alias, target) in aliases {
            entries.push((alias.clone(), target.clone()));
        }
        for model in models {
            if !entries.iter().any(|(id, _)| id == model) {
                entries.push((model.clone(), model.clone()));
            }
        }
        let mapped = model_map
            .iter()
            .filter(|(id, _)| !entries.iter().any(|(known, _)| known == *id))
            .map(|(id, target)| (id.clone(), target.clone()))
            .collect();
        Catalog { entries, mapped }
    }

    /// The model argument for the CLI, or `None` for an id this proxy does not serve.
    pub fn resolve<'a>(&'a self, id: &'a str) -> Option<&'a str> {
        match self.mapped.iter().find(|(known, _)| known == id) {
            Some((_, target)) => self.resolve_served(target),
            None => self.resolve_served(id),
        }
    }

    /// `resolve` without `model_map` (a map's target is never mapped again).
    fn resolve_served<'a>(&'a self, id: &'a str) -> Option<&'a str> {
        match self.entries.iter().find(|(known, _)| known == id) {
            Some((_, target)) => Some(target.as_str()),
            None if is_claude_id(id) => Some(id),
            None => None,
        }
    }

    /// Whether `id` is one of the ids [`Catalog::ids`] lists (a bounded set, unlike the
    /// Claude ids [`Catalog::resolve`] also accepts).
    pub fn is_listed(&self, id: &str) -> bool {
        self.ids().any(|known| known == id)
    }

    /// Every exposed id, in listing order: aliases, models, then `model_map`'s ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .chain(self.mapped.iter())
            .map(|(id, _)| id.as_str())
    }

    /// What the CLI knows about the model `id` is served by, if it knows it.
    pub fn info(&self, id: &str) -> Option<ModelInfo> {
        self.resolve(id).and_then(registry::lookup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_catalog() -> Catalog {
        Catalog::from_settings(&Settings::default())
    }

    #[test]
    fn guide_names_map_to_cli_family_aliases() {
        let catalog = default_catalog();
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
    fn any_claude_id_goes_to_the_cli_as_it_is() {
        let catalog = default_catalog();
        for id in [
            "claude-sonnet-4-20250514",
            "claude-sonnet-4-5-20250929",
            "claude-haiku-4-5",
            "claude-opus-4-6",
            "claude-zzz-9",
            "claude-sonnet-4-5[1m]",
        ] {
            assert_eq!(catalog.resolve(id), Some(id));
            assert!(!catalog.is_listed(id), "{id} is served, not listed");
        }
    }

    #[test]
    fn other_ids_are_not_substituted() {
        let catalog = default_catalog();
        for id in [
            "gpt-4o",
            "",
            "claude",
            "claude-",
            "Claude-opus-4",
            "claude-x y",
            "-x",
        ] {
            assert_eq!(catalog.resolve(id), None, "{id:?}");
        }
    }

    #[test]
    fn model_map_sends_foreign_ids_to_a_served_model() {
        let mut map = BTreeMap::new();
        map.insert("gpt-4o".to_string(), "sonnet".to_string());
        map.insert("gpt-4o-mini".to_string(), "claude-haiku-4".to_string());
        map.insert("o3".to_string(), "claude-opus-4-6".to_string());
        let settings = Settings {
            model_map: map,
            ..Settings::default()
        };
        let catalog = Catalog::from_settings(&settings);
        assert_eq!(catalog.resolve("gpt-4o"), Some("sonnet"));
        assert_eq!(catalog.resolve("gpt-4o-mini"), Some("haiku"));
        assert_eq!(catalog.resolve("o3"), Some("claude-opus-4-6"));
        assert_eq!(catalog.resolve("gpt-4.1"), None);
        assert!(catalog.is_listed("gpt-4o") && catalog.is_listed("o3"));
        assert_eq!(catalog.ids().last(), Some("o3"));
        assert_eq!(
            catalog.info("gpt-4o").map(|i| i.id),
            Some("claude-sonnet-5-5")
        );
    }

    #[test]
    fn listing_has_no_duplicates() {
        let mut aliases = BTreeMap::new();
        aliases.insert("x".to_string(), "opus".to_string());
        let mut map = BTreeMap::new();
        map.insert("x".to_string(), "haiku".to_string());
        let catalog = Catalog::new(&["x".to_string(), "opus".to_string()], &aliases, &map);
        let ids: Vec<_> = catalog.ids().collect();
        assert_eq!(ids, vec!["x", "opus"]);
        assert_eq!(catalog.resolve("x"), Some("opus"));
    }
}
