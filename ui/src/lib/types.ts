// Shapes of what the backend (src-tauri commands over the core) returns. Kept in step with
// the core's Serialize types: agent::JobStatus, history::RunSummary/RunDetail, agent::AgentInfo.

export type Trigger = 'scheduled' | 'manual' | 'dry_run' | 'startup';
export type Outcome = 'running' | 'success' | 'failed' | 'skipped';

export interface RunCounts {
  inserted: number;
  updated: number;
  deleted: number;
  unchanged: number;
  skipped: number;
}

export interface RunSummary {
  id: number;
  job: string;
  job_name: string;
  operation: number | null;
  trigger: Trigger;
  started_at: string;
  finished_at: string | null;
  outcome: Outcome;
  counts: RunCounts;
  error: string | null;
}

export interface LogLine {
  at: string;
  level: 'error' | 'warn' | 'info' | 'debug' | 'trace';
  message: string;
}

export interface RunDetail extends RunSummary {
  logs: LogLine[];
}

export interface SecretKey {
  key: string;
  reference: string | null;
  present: boolean;
}

export interface JobStatus {
  id: string;
  path: string;
  name: string;
  description: string | null;
  frequency: string | null;
  schedule: string | null;
  next_run: string | null;
  sync_on_init: boolean;
  error: string | null;
  demo: boolean;
  secrets: SecretKey[];
  running: boolean;
  last_run: RunSummary | null;
}

export interface AgentInfo {
  paused: boolean;
  jobs_dir: string;
  data_dir: string;
  secrets_backend: string;
  secrets_fallback: string | null;
  demo_running: boolean;
  autostart: boolean;
  version: string;
}

export type ErrorCode = 'not_found' | 'config' | 'secrets' | 'history' | 'other';

/** What every failed command rejects with. */
export interface AppError {
  code: ErrorCode;
  message: string;
}

export type AgentEvent =
  | { kind: 'run_started'; job: string; trigger: Trigger }
  | { kind: 'run_finished'; run: RunSummary; recovered_after: number | null }
  | { kind: 'jobs_changed' }
  | { kind: 'paused_changed'; paused: boolean };
