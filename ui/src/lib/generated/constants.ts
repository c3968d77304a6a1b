// Generated from the Rust types by src/bindings.rs (ts-rs): do not edit.
// Regenerate with `npm run gen:types` after changing a type that crosses the Tauri boundary.

import type { Hint, WizardRules } from './types';

/** What each hint says (src/hint.rs). An error carries its hint's words as `hint`; these
 * are for screens that show a hint before any error. */
export const HINTS: Record<Hint, string> = {
  "api_token": "Create an API token in Fliplet Studio → App settings → API tokens.",
  "token_refused": "Check that the token is complete and has not been revoked (Fliplet Studio → App settings → API tokens), and that its region prefix (eu--, us--, ca--) matches your Fliplet account.",
  "token_again": "Paste and verify the token again.",
  "data_source_access": "In Fliplet Studio, open App Data, select this data source and, in its Security (access rules) tab, add a rule for this API token that allows Select, Insert, Update and Delete — the agent reads every entry and writes the changes.",
  "data_source_id": "Pick one from the list, or check the id in Fliplet Studio → App Data.",
  "network": "Check the network connection, and any proxy or firewall between this computer and Fliplet; if it keeps failing, Fliplet's servers may be down.",
  "tls_proxy": "A proxy on your network may be inspecting HTTPS. Add your organization's CA certificate file (PEM) instead of turning verification off.",
  "ca_file_missing": "Choose the PEM file your IT department gave you (often .pem or .crt).",
  "ca_file_pem": "The CA certificate file must be a PEM certificate (-----BEGIN CERTIFICATE-----).",
  "database_login": "Check the user name and password.",
  "database_host": "Check the server name and port, and that the database server is running.",
  "database_name": "Check the database name.",
  "password_again": "Type the password again.",
  "sqlite_file": "Choose an existing database file."
};

/** The rules of a job the wizard checks as the user types (src/app/wizard.rs); the
 * backend checks them again. */
export const WIZARD_RULES: WizardRules = {
  "name": {
    "max_len": 100,
    "empty": "Give the job a name.",
    "too_long": "The name is too long (100 characters at most).",
    "characters": "Use only letters, digits, “-”, “_” and “.” (no spaces).",
    "leading_dot": "The name cannot start with a dot."
  },
  "batch_size": {
    "min": 1,
    "max": 100000,
    "soft_max": 10000,
    "default": 1000,
    "out_of_range": "The batch size must be between 1 and 100000 (default 1000).",
    "above_soft_max": "Batches of more than 10000 entries make large requests that may time out."
  },
  "concurrency": {
    "min": 1,
    "max": 100,
    "soft_max": 20,
    "default": 1,
    "out_of_range": "The concurrency must be between 1 and 100 (default 1).",
    "above_soft_max": "More than 20 requests at a time may be slowed down (rate-limited) by Fliplet."
  }
};
