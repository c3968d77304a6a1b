//! What to do about an error: one vocabulary of hints, each worded once, here. The desktop
//! app's errors carry a hint as a kind and its text ([`crate::app::error::AppError`]), and its
//! front end shows the text it receives (the whole table is also generated into
//! `ui/src/lib/generated/constants.ts` for the screens that show a hint before any error); the
//! command line words its messages with the same texts. So the window, the wizard and the
//! command line cannot disagree on, say, where an API token is made.

use serde::Serialize;

/// Where Fliplet API tokens are made, as a literal (for `concat!` in constants). Every message
/// that sends the user to their tokens names this place.
macro_rules! api_tokens_place {
    () => {
        "Fliplet Studio → App settings → API tokens"
    };
}
pub(crate) use api_tokens_place;

/// Where Fliplet API tokens are made.
pub const API_TOKENS_PLACE: &str = api_tokens_place!();

/// What to do about an error. Serialized as its kind (`token_refused`); [`Hint::text`] is
/// what the user reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// Where a token is made (no token given yet).
    ApiToken,
    /// Fliplet refused the token.
    TokenRefused,
    /// The stored token cannot be read back.
    TokenAgain,
    /// The token may not read a data source: the access rule to add.
    DataSourceAccess,
    /// No data source with that id.
    DataSourceId,
    /// Fliplet cannot be reached.
    Network,
    /// A certificate was refused, most likely by an HTTPS-inspecting proxy.
    TlsProxy,
    /// The CA certificate file chosen does not exist.
    CaFileMissing,
    /// The CA certificate file is not PEM.
    CaFilePem,
    /// The database refused the login.
    DatabaseLogin,
    /// The database server cannot be reached.
    DatabaseHost,
    /// The database does not exist.
    DatabaseName,
    /// The stored database password cannot be read back.
    PasswordAgain,
    /// The SQLite database file does not exist.
    SqliteFile,
}

impl Hint {
    /// Every hint, in declaration order.
    pub const ALL: [Hint; 14] = [
        Hint::ApiToken,
        Hint::TokenRefused,
        Hint::TokenAgain,
        Hint::DataSourceAccess,
        Hint::DataSourceId,
        Hint::Network,
        Hint::TlsProxy,
        Hint::CaFileMissing,
        Hint::CaFilePem,
        Hint::DatabaseLogin,
        Hint::DatabaseHost,
        Hint::DatabaseName,
        Hint::PasswordAgain,
        Hint::SqliteFile,
    ];

    /// The hint in words.
    pub const fn text(self) -> &'static str {
        match self {
            Hint::ApiToken => concat!("Create an API token in ", api_tokens_place!(), "."),
            Hint::TokenRefused => concat!(
                "Check that the token is complete and has not been revoked (",
                api_tokens_place!(),
                "), and that its region prefix (eu--, us--, ca--) matches your Fliplet account."
            ),
            Hint::TokenAgain => "Paste and verify the token again.",
            Hint::DataSourceAccess => {
                "In Fliplet Studio, open App Data, select this data source and, in its Security (access rules) tab, add a rule for this API token that allows Select, Insert, Update and Delete — the agent reads every entry and writes the changes."
            }
            Hint::DataSourceId => {
                "Pick one from the list, or check the id in Fliplet Studio → App Data."
            }
            Hint::Network => {
                "Check the network connection, and any proxy or firewall between this computer and Fliplet; if it keeps failing, Fliplet's servers may be down."
            }
            Hint::TlsProxy => {
                "A proxy on your network may be inspecting HTTPS. Add your organization's CA certificate file (PEM) instead of turning verification off."
            }
            Hint::CaFileMissing => {
                "Choose the PEM file your IT department gave you (often .pem or .crt)."
            }
            Hint::CaFilePem => {
                "The CA certificate file must be a PEM certificate (-----BEGIN CERTIFICATE-----)."
            }
            Hint::DatabaseLogin => "Check the user name and password.",
            Hint::DatabaseHost => {
                "Check the server name and port, and that the database server is running."
            }
            Hint::DatabaseName => "Check the database name.",
            Hint::PasswordAgain => "Type the password again.",
            Hint::SqliteFile => "Choose an existing database file.",
        }
    }
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hint_is_listed_once_and_sends_token_seekers_to_one_place() {
        let mut seen = std::collections::BTreeSet::new();
        for h in Hint::ALL {
            assert!(seen.insert(h), "{h:?} twice");
            assert!(h.text().ends_with('.'), "{h:?}");
        }
        assert!(Hint::ApiToken.text().contains("App settings → API tokens"));
        assert!(Hint::TokenRefused.text().contains(API_TOKENS_PLACE));
    }
}
