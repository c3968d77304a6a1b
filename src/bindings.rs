//! The TypeScript side of the Tauri boundary, generated from the core's types with ts-rs
//! (a dev-dependency: only the tests of this crate derive `TS`, the product binaries do not
//! carry it).
//!
//! - `ui/src/lib/generated/types.ts`: every type a command of `src-tauri/` receives or
//!   returns, the agent's events, and the types they are made of, exactly as serde writes
//!   them.
//! - `ui/src/lib/generated/constants.ts`: values the front end shares with the core: the words
//!   of every hint ([`crate::hint`]) and the rules the wizard checks as the user types
//!   ([`crate::app::wizard::rules`]).
//!
//! `generated_typescript_is_current` (a plain `cargo test`) generates both into a temporary
//! folder and fails when the committed files differ; `write_generated_typescript` (ignored)
//! rewrites them: `npm run gen:types`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ts_rs::{Config, TS, TypeVisitor};

use crate::app::agent::{AgentEvent, JobStatus, SavedJob, SettingsInfo};
use crate::app::error::AppError;
use crate::app::history::{RunDetail, RunSummary};
use crate::app::jobs::JobFile;
use crate::app::wizard::{
    self, ConnectionCheck, DataSourceInfo, DataSourceItem, JobDraft, QueryResult, ScheduleInfo,
    TokenCheck, WizardRules,
};
use crate::hint::Hint;
use crate::sync::run::JobPreview;

/// Where the generated files live, from the repository root.
const DIR: &str = "ui/src/lib/generated";

/// The command that rewrites them.
const REGENERATE: &str =
    "npm run gen:types  (that is: cargo test -p fliplet-agent --lib bindings -- --ignored)";

const HEADER: &str = "// Generated from the Rust types by src/bindings.rs (ts-rs): do not edit.\n// Regenerate with `npm run gen:types` after changing a type that crosses the Tauri boundary.\n";

/// Collects the declarations of a type and of everything it is made of, by name.
struct Declarations<'a> {
    cfg: &'a Config,
    decls: BTreeMap<String, String>,
}

impl TypeVisitor for Declarations<'_> {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        // Primitives and std types have no declaration of their own.
        if T::output_path().is_none() {
            return;
        }
        let name = T::ident(self.cfg);
        if self.decls.contains_key(&name) {
            return;
        }
        let mut decl = T::docs().unwrap_or_default();
        decl.push_str("export ");
        decl.push_str(&T::decl(self.cfg));
        self.decls.insert(name, decl);
        T::visit_dependencies(self);
    }
}

/// `types.ts`: the types the front end receives or sends, and their parts, by name.
fn types_ts(cfg: &Config) -> String {
    let mut d = Declarations {
        cfg,
        decls: BTreeMap::new(),
    };
    // Command results and arguments (src-tauri/src/commands.rs) and events.
    d.visit::<AgentEvent>();
    d.visit::<AppError>();
    d.visit::<JobStatus>();
    d.visit::<JobFile>();
    d.visit::<RunSummary>();
    d.visit::<RunDetail>();
    d.visit::<SettingsInfo>();
    d.visit::<SavedJob>();
    d.visit::<JobPreview>();
    d.visit::<JobDraft>();
    d.visit::<TokenCheck>();
    d.visit::<DataSourceItem>();
    d.visit::<DataSourceInfo>();
    d.visit::<ConnectionCheck>();
    d.visit::<QueryResult>();
    d.visit::<ScheduleInfo>();
    // The types of constants.ts.
    d.visit::<Hint>();
    d.visit::<WizardRules>();
    let mut out = HEADER.to_owned();
    for decl in d.decls.values() {
        out.push('\n');
        out.push_str(decl);
        out.push('\n');
    }
    out
}

/// `constants.ts`: the hints' words and the wizard's rules.
fn constants_ts() -> String {
    let hints: BTreeMap<Hint, &str> = Hint::ALL.iter().map(|h| (*h, h.text())).collect();
    fn json(v: &impl serde::Serialize) -> String {
        serde_json::to_string_pretty(v).expect("plain data")
    }
    format!(
        "{HEADER}\nimport type {{ Hint, WizardRules }} from './types';\n\n\
         /** What each hint says (src/hint.rs). An error carries its hint's words as `hint`; these\n \
         * are for screens that show a hint before any error. */\n\
         export const HINTS: Record<Hint, string> = {};\n\n\
         /** The rules of a job the wizard checks as the user types (src/app/wizard.rs); the\n \
         * backend checks them again. */\n\
         export const WIZARD_RULES: WizardRules = {};\n",
        json(&hints),
        json(&wizard::rules()),
    )
}

/// The generated files: name and text.
fn generated() -> Vec<(&'static str, String)> {
    let cfg = Config::new().with_large_int("number");
    vec![
        ("types.ts", types_ts(&cfg)),
        ("constants.ts", constants_ts()),
    ]
}

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR)
}

fn write_all(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in generated() {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn generated_typescript_is_current() {
    let fresh = tempfile::tempdir().unwrap();
    write_all(fresh.path());
    let committed = committed_dir();
    let mut stale = Vec::new();
    for (name, _) in generated() {
        let want = std::fs::read_to_string(fresh.path().join(name)).unwrap();
        let have = std::fs::read_to_string(committed.join(name))
            .unwrap_or_default()
            .replace("\r\n", "\n");
        if have != want {
            let line = have
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
            stale.push(format!(
                "  {DIR}/{name}: first difference at line {}:\n    committed: {}\n    generated: {}",
                line + 1,
                have.lines().nth(line).unwrap_or("(end of file)"),
                want.lines().nth(line).unwrap_or("(end of file)"),
            ));
        }
    }
    let known: Vec<&str> = generated().iter().map(|(n, _)| *n).collect();
    if let Ok(entries) = std::fs::read_dir(&committed) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !known.contains(&name.as_str()) {
                stale.push(format!(
                    "  {DIR}/{name}: not generated any more (delete it)"
                ));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "The generated TypeScript of the front end is stale: the Rust types (or hints, or wizard rules) changed.\n{}\nRegenerate it with\n  {REGENERATE}\nand commit the result.",
        stale.join("\n")
    );
}

/// Rewrites the committed files (`npm run gen:types`).
#[test]
#[ignore = "writes ui/src/lib/generated/: run it with `npm run gen:types`"]
fn write_generated_typescript() {
    write_all(&committed_dir());
}
