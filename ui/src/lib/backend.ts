// The only place that talks to the Rust side (`invoke` / `listen`). Every command is a thin
// wrapper over a core function (see src-tauri/src/commands.rs); errors arrive as AppError.
import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type {
  AgentEvent,
  SettingsInfo,
  AppError,
  ConnectionCheck,
  DataSourceInfo,
  DataSourceItem,
  JobDraft,
  JobFile,
  JobPreview,
  JobStatus,
  QueryResult,
  RunDetail,
  RunSummary,
  SaveResult,
  ScheduleInfo,
  TokenCheck,
} from './types';

type Invoke = (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

let invokeImpl: Invoke = tauriInvoke;

/** Tests replace the transport. */
export function setInvoke(fn: Invoke): void {
  invokeImpl = fn;
}

/** Any rejection as an AppError (the backend sends `{code, message}`; anything else is wrapped). */
export function toAppError(e: unknown): AppError {
  if (e && typeof e === 'object' && 'code' in e && 'message' in e) {
    const { code, message, hint, hint_kind, field } = e as AppError;
    const out: AppError = { code, message: String(message) };
    if (hint) out.hint = hint;
    if (hint_kind) out.hint_kind = hint_kind;
    if (field) out.field = field;
    return out;
  }
  return { code: 'other', message: e instanceof Error ? e.message : String(e) };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return (await invokeImpl(cmd, args)) as T;
  } catch (e) {
    throw toAppError(e);
  }
}

export const backend = {
  listJobs: () => call<JobStatus[]>('list_jobs'),
  runJob: (id: string, dryRun = false) => call<RunSummary>('run_job', { id, dryRun }),
  /** Run a job now, permitting once `deletes` deletes past the delete gate (its preview's count). */
  runJobAllowingDeletes: (id: string, deletes: number) =>
    call<RunSummary>('run_job_allowing_deletes', { id, deletes }),
  runAll: () => call<RunSummary[]>('run_all'),
  runs: (job: string | null, limit = 100) => call<RunSummary[]>('list_runs', { job, limit }),
  run: (id: number) => call<RunDetail>('get_run', { id }),
  setSecret: (job: string, key: string, value: string) =>
    call<string>('set_secret', { job, key, value }),
  createDemo: () => call<JobFile>('create_demo'),
  info: () => call<SettingsInfo>('agent_info'),
  setPaused: (paused: boolean) => call<void>('set_paused', { paused }),
  setAutostart: (enabled: boolean) => call<boolean>('set_autostart', { enabled }),
  uiReady: () => call<number>('ui_ready'),
  closeWindow: () => call<void>('close_window'),
  quit: () => call<void>('quit'),
  /** Dry run of a saved job with the rows and cells that would change (recorded as a dry run). */
  previewJob: (id: string) => call<JobPreview>('preview_job', { id }),

  // Setup wizard (src/app/wizard.rs). Every call rejects with a WizardError-shaped AppError.
  /** A blank draft with the defaults (batch size 1000, concurrency 1, update mode …). */
  newDraft: () => call<JobDraft>('wizard_new'),
  /** The draft of a saved job, for editing (rejects when the job has several operations or a non-SQL source). */
  loadDraft: (id: string) => call<JobDraft>('wizard_load', { id }),
  /** A fliplet-agent YAML file opened as a draft: its plain secrets move to the keychain. */
  importFile: (path: string) => call<JobDraft>('wizard_import', { path }),
  /** Check a token with `GET v1/user`; on success it is stored in the keychain. */
  verifyToken: (token: string, apiUrl: string, caFile: string) =>
    call<TokenCheck>('wizard_verify_token', { token, apiUrl, caFile }),
  dataSources: (draft: JobDraft) => call<DataSourceItem[]>('wizard_data_sources', { draft }),
  dataSource: (draft: JobDraft, id: number) => call<DataSourceInfo>('wizard_data_source', { draft, id }),
  /** Connect with the draft's database settings; `password` (when given) replaces the stored one on success. */
  testConnection: (draft: JobDraft, password: string | null) =>
    call<ConnectionCheck>('wizard_test_connection', { draft, password }),
  /** Run the draft's query and return its first `limit` rows. */
  runQuery: (draft: JobDraft, limit = 20) => call<QueryResult>('wizard_run_query', { draft, limit }),
  /** Store a secret (file header, SharePoint password, encryption key) and get its reference. */
  storeSecret: (name: string, value: string) => call<string>('wizard_store_secret', { name, value }),
  describeSchedule: (expr: string) => call<ScheduleInfo>('describe_schedule', { expr }),
  /** Full dry run of the draft (writes nothing anywhere). */
  previewDraft: (draft: JobDraft) => call<JobPreview>('wizard_preview', { draft }),
  /** Validate and write the job file; reloads the schedules; optionally runs it now. */
  saveDraft: (draft: JobDraft, runNow: boolean) => call<SaveResult>('wizard_save', { draft, runNow }),
  /** Native file picker; null when cancelled. */
  pickFile: (title: string, extensions: string[]) => call<string | null>('pick_file', { title, extensions }),
  onEvent: (handler: (e: AgentEvent) => void) =>
    listen<AgentEvent>('agent-event', (e) => handler(e.payload)),
};
