//! The Fliplet REST API client: the only code that speaks HTTP to Fliplet.
