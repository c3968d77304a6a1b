// What the backend (src-tauri commands over the core) sends and receives. The shapes are
// generated from the Rust types (./generated/types.ts, `npm run gen:types`; `cargo test`
// fails when they are stale): this file only re-exports them, names parts of them the
// screens use on their own, and keeps the types that exist in the front end only.
import type { AppError, DatabaseDraft, FileDraft, JobDraft, SavedJob } from './generated/types';

export type * from './generated/types';

/** `mssql`, `postgres`, `mysql` or `sqlite`. */
export type DriverKey = DatabaseDraft['driver'];
export type FileKind = FileDraft['type'];
export type Mode = JobDraft['mode'];
export type HookKind = JobDraft['runHooks'][number];

/** Wizard errors are AppErrors with a hint and the field they concern. */
export type WizardError = AppError;

/** What `wizard_save` answers: the saved job and the run started by "Save and run now". */
export type SaveResult = SavedJob;

/** Primary key problems among the rows of a query result (see `ColumnKeys`). */
export interface KeyIssues {
  /** 1-based rows whose key is null or empty. */
  empty: number[];
  /** Key values seen more than once, with their 1-based rows. */
  duplicates: { value: string; rows: number[] }[];
}
