// The only place that talks to the Rust side (`invoke` / `listen`). Every command is a thin
// wrapper over a core function (see src-tauri/src/commands.rs); errors arrive as AppError.
import { invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type { AgentEvent, AgentInfo, AppError, JobStatus, RunDetail, RunSummary } from './types';

type Invoke = (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

let invokeImpl: Invoke = tauriInvoke;

/** Tests replace the transport. */
export function setInvoke(fn: Invoke): void {
  invokeImpl = fn;
}

/** Any rejection as an AppError (the backend sends `{code, message}`; anything else is wrapped). */
export function toAppError(e: unknown): AppError {
  if (e && typeof e === 'object' && 'code' in e && 'message' in e) {
    const { code, message } = e as AppError;
    return { code, message: String(message) };
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
  runAll: () => call<RunSummary[]>('run_all'),
  runs: (job: string | null, limit = 100) => call<RunSummary[]>('list_runs', { job, limit }),
  run: (id: number) => call<RunDetail>('get_run', { id }),
  setSecret: (job: string, key: string, value: string) =>
    call<string>('set_secret', { job, key, value }),
  createDemo: () => call<JobStatus>('create_demo'),
  info: () => call<AgentInfo>('agent_info'),
  setPaused: (paused: boolean) => call<void>('set_paused', { paused }),
  setAutostart: (enabled: boolean) => call<boolean>('set_autostart', { enabled }),
  uiReady: () => call<number>('ui_ready'),
  closeWindow: () => call<void>('close_window'),
  quit: () => call<void>('quit'),
  onEvent: (handler: (e: AgentEvent) => void) =>
    listen<AgentEvent>('agent-event', (e) => handler(e.payload)),
};
