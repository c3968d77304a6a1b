//! `fliplet-emulator`: serve a local Fliplet REST API from a JSON state file.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use fliplet_emulator::{Emulator, State};

const STATE_FORMAT: &str = r#"STATE FILE FORMAT (JSON; every key optional; ids are positive integers):
{
  "organizations": [ { "id": 1, "name": "Acme Ltd" } ],
  "users": [ { "id": 1, "email": "demo@acme.test", "fullName": "Demo User",
               "firstName": "Demo User", "lastName": null, "isAdmin": false,
               "organizationIds": [1] } ],
  "tokens": [ { "token": "eu--demo-token", "userId": 1,
                "grants": { "<dataSourceId>": ["select", "insert", "update", "delete"] } } ],
  "dataSources": [ { "id": 1, "name": "Staff", "organizationId": 1, "appId": null,
                     "type": null, "columns": null, "hooks": [],
                     "createdAt": "2024-01-10T08:00:00.000Z", "updatedAt": "…",
                     "entries": [ { "id": 1, "data": { "Email": "a@acme.test" },
                                    "createdAt": "…", "updatedAt": "…" } ] } ],
  "mediaFolders": [ { "id": 1, "name": "Files uploaded from DIS", "parentId": null,
                      "organizationId": 1, "appId": null } ],
  "mediaFiles": [ { "id": 1, "name": "a.txt", "contentType": "text/plain",
                    "mediaFolderId": 1, "organizationId": 1, "userId": 1,
                    "clientChecksum": null, "contentBase64": "aGVsbG8=" } ],
  "nextIds": { "organization": 2, "user": 2, "dataSource": 2, "entry": 1,
               "mediaFolder": 2, "mediaFile": 2 }
}
A token's data-source access is its grants: select (list/get/query), insert, update, delete.
Timestamps left out are set to the load time; nextIds left out are derived from the data.
Changes made over HTTP are written back to the file (temp file, then rename) shortly after
each change and on Ctrl-C. A missing file starts empty (or with --demo, the demo state) and
is created. The demo state (emulator/demo/state.json) has org "Acme Ltd", user "Demo User",
token eu--demo-token and an empty data source "Staff" (id 1) granted all four verbs.

Control plane (no token): /__emulator/state, /reset, /journal, /faults, /settings, ...
see emulator/README.md."#;

/// A local emulator of the Fliplet REST API (tests, benchmarks, no-account demo mode).
#[derive(Parser, Debug)]
#[command(name = "fliplet-emulator", version, after_long_help = STATE_FORMAT)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// JSON state file to serve and to save changes back to (see --help for the format).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Start from the built-in demo state when there is no state file (or it does not exist).
    #[arg(long)]
    demo: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let state = match &args.state {
        Some(p) if p.exists() => State::load(p)
            .map_err(|e| anyhow::anyhow!("cannot read state file {}: {e}", p.display()))?,
        _ if args.demo => State::demo(),
        _ => State::default(),
    };
    let create = args.state.as_ref().filter(|p| !p.exists()).cloned();
    let emu = Emulator::serve(
        SocketAddr::new(args.host, args.port),
        state.clone(),
        args.state.clone(),
    )
    .await?;
    if let Some(p) = create {
        fliplet_emulator::write_state_atomically(&p, &state)?;
    }
    println!("Fliplet emulator listening on {}", emu.url());
    if let Some(p) = &args.state {
        println!("State file: {}", p.display());
    }
    tokio::signal::ctrl_c().await?;
    println!("Stopping; saving state.");
    emu.shutdown().await
}
