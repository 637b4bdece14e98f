//! The names client functions have upstream: the CLI lists an MCP server's tools as
//! `mcp__<server>__<name>`, and the API allows 64 characters, so long names are shortened
//! with a digest; this maps them both ways.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::claude::events::TOOL_SERVER as SERVER;
use crate::conversation::FunctionDef;
/// Longest name the stub gives a function (`mcp__c__` + 56 = 64, the API's limit).
const MAX_STUB_NAME: usize = 56;

/// Client function names ↔ the names the stub lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolNames {
    /// stub name → client name.
    back: HashMap<String, String>,
}

impl ToolNames {
    /// The stub's name for a client function: the same, or shortened with a digest.
    pub fn stub_name(client: &str) -> String {
        if client.len() <= MAX_STUB_NAME {
            return client.to_string();
        }
        let digest = Sha256::digest(client.as_bytes());
        let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("{}_{hex}", &client[..MAX_STUB_NAME - 9])
    }

    /// The name the model uses upstream.
    pub fn upstream_name(client: &str) -> String {
        format!("mcp__{SERVER}__{}", ToolNames::stub_name(client))
    }

    pub fn new(functions: &[FunctionDef]) -> ToolNames {
        ToolNames {
            back: functions
                .iter()
                .map(|f| (ToolNames::stub_name(&f.name), f.name.clone()))
                .collect(),
        }
    }

    /// The client's name for an upstream tool name, if it is one of the client's tools.
    pub fn client_name(&self, upstream: &str) -> Option<String> {
        let stub = upstream.strip_prefix(&format!("mcp__{SERVER}__"))?;
        self.back.get(stub).cloned()
    }
}
