// The wizard's state: the draft being edited plus what each step learnt from the backend
// (the verified token, the chosen data source, the connection test, the query result …).
// Steps read and change it; the rules of what makes a step valid live in lib/validate.ts.
import { backend } from '../lib/backend';
import { databaseSignature, secretPrefix, stepProblem, STEPS, type WizardFacts } from '../lib/validate';
import type {
  AppError,
  ConnectionCheck,
  DataSourceInfo,
  DataSourceItem,
  JobDraft,
  JobPreview,
  QueryResult,
  SaveResult,
  ScheduleInfo,
  TokenCheck,
} from '../lib/types';

export type Origin = 'new' | 'edit' | 'import';

export class WizardState {
  draft: JobDraft;
  readonly origin: Origin;
  step = $state(0);
  /** The furthest step opened so far. */
  furthest = $state(0);

  // 1. token
  tokenCheck: TokenCheck | null = $state(null);
  tokenError: AppError | null = $state(null);
  tokenBusy = $state(false);

  // 2. data source
  dataSources: DataSourceItem[] | null = $state(null);
  dataSourcesError: AppError | null = $state(null);
  dataSourcesBusy = $state(false);
  dataSource: DataSourceInfo | null = $state(null);
  dataSourceError: AppError | null = $state(null);
  dataSourceBusy = $state(false);

  // 3. connection
  /** The password as typed (sent once with the test, then only its keychain reference is kept). */
  typedPassword = $state('');
  connection: ConnectionCheck | null = $state(null);
  connectionError: AppError | null = $state(null);
  connectionBusy = $state(false);
  private testedSignature: string | null = $state(null);

  // 4. query
  queryResult: QueryResult | null = $state(null);
  queryError: AppError | null = $state(null);
  queryBusy = $state(false);
  private queriedSignature: string | null = $state(null);

  // 6. secrets being stored
  pendingSecrets = $state(0);
  secretError: AppError | null = $state(null);

  // 7. schedule: the last expression checked and its answer
  schedule: { expr: string; info: ScheduleInfo | null; error: AppError | null } | null = $state(null);

  // 8. preview and save
  preview: JobPreview | null = $state(null);
  previewError: AppError | null = $state(null);
  previewBusy = $state(false);
  saveError: AppError | null = $state(null);
  saveBusy = $state(false);
  /** A preview/save error about a field of another step, shown on that step once opened from it. */
  carried: AppError | null = $state(null);

  private readonly initial: string;

  constructor(draft: JobDraft, origin: Origin) {
    this.draft = $state(draft);
    this.origin = origin;
    this.initial = JSON.stringify(draft);
  }

  /** Whether the draft changed since it was opened (an imported draft is always unsaved). */
  get dirty(): boolean {
    return this.origin === 'import' || JSON.stringify($state.snapshot(this.draft)) !== this.initial;
  }

  get connectionOk(): boolean {
    return this.testedSignature !== null && this.testedSignature === databaseSignature(this.draft.database, this.typedPassword);
  }

  private get querySignature(): string {
    return JSON.stringify([this.draft.query, databaseSignature(this.draft.database, this.typedPassword)]);
  }

  /** The result of the current query text (null when it has not been run since it changed). */
  get currentQuery(): QueryResult | null {
    return this.queryResult && this.queriedSignature === this.querySignature ? this.queryResult : null;
  }

  /** Column names of the current query result. */
  get columns(): string[] {
    return this.currentQuery?.columns.map((c) => c.name) ?? [];
  }

  get scheduleStatus(): WizardFacts['schedule'] {
    const expr = this.draft.frequency.trim();
    if (!expr) return 'ok';
    if (!this.schedule || this.schedule.expr !== expr) return 'checking';
    return this.schedule.error ? { error: this.schedule.error.message } : 'ok';
  }

  get facts(): WizardFacts {
    return {
      draft: this.draft,
      dataSource: this.dataSource,
      connectionOk: this.connectionOk,
      query: this.currentQuery,
      schedule: this.scheduleStatus,
      pendingSecrets: this.pendingSecrets,
    };
  }

  problem(step: number): string | null {
    return stepProblem(step, this.facts);
  }

  /** A step can be opened when every step before it is valid. */
  reachable(step: number): boolean {
    for (let i = 0; i < step; i++) if (this.problem(i)) return false;
    return true;
  }

  /** Open the step of an error's field, carrying the error there. */
  goToError(error: AppError, step: number) {
    this.carried = error;
    this.step = step;
  }

  go(step: number) {
    if (step >= 0 && step < STEPS.length && this.reachable(step)) {
      this.step = step;
      this.furthest = Math.max(this.furthest, step);
    }
  }

  // --- 1. token ---------------------------------------------------------------------------

  /** Verify and store the token; true on success (the caller then forgets what was typed). */
  async verifyToken(token: string): Promise<boolean> {
    this.tokenBusy = true;
    this.tokenError = null;
    try {
      const check = await backend.verifyToken(token.trim(), this.draft.apiUrl.trim(), this.draft.caFile.trim());
      this.tokenCheck = check;
      this.draft.authToken = check.reference;
      // Lists of data sources depend on the token.
      this.dataSources = null;
      return true;
    } catch (e) {
      this.tokenError = e as AppError;
      return false;
    } finally {
      this.tokenBusy = false;
    }
  }

  // --- 2. data source ---------------------------------------------------------------------

  async loadDataSources() {
    this.dataSourcesBusy = true;
    this.dataSourcesError = null;
    try {
      this.dataSources = await backend.dataSources($state.snapshot(this.draft));
    } catch (e) {
      this.dataSourcesError = e as AppError;
    } finally {
      this.dataSourcesBusy = false;
    }
  }

  async chooseDataSource(id: number) {
    this.draft.dataSourceId = id;
    this.dataSourceBusy = true;
    this.dataSourceError = null;
    this.dataSource = null;
    try {
      const info = await backend.dataSource($state.snapshot(this.draft), id);
      if (this.draft.dataSourceId === id) this.dataSource = info;
    } catch (e) {
      if (this.draft.dataSourceId === id) this.dataSourceError = e as AppError;
    } finally {
      this.dataSourceBusy = false;
    }
  }

  // --- 3. connection ----------------------------------------------------------------------

  async testConnection(): Promise<boolean> {
    this.connectionBusy = true;
    this.connectionError = null;
    this.connection = null;
    const typed = this.typedPassword;
    try {
      const check = await backend.testConnection($state.snapshot(this.draft), typed ? typed : null);
      if (check.password) this.draft.database.password = check.password;
      if (this.typedPassword === typed) this.typedPassword = '';
      this.connection = check;
      this.testedSignature = databaseSignature(this.draft.database, this.typedPassword);
      return true;
    } catch (e) {
      this.connectionError = e as AppError;
      this.testedSignature = null;
      return false;
    } finally {
      this.connectionBusy = false;
    }
  }

  // --- 4. query ---------------------------------------------------------------------------

  async runQuery(limit = 20): Promise<boolean> {
    this.queryBusy = true;
    this.queryError = null;
    const signature = this.querySignature;
    try {
      const result = await backend.runQuery($state.snapshot(this.draft), limit);
      this.queryResult = result;
      this.queriedSignature = signature;
      return true;
    } catch (e) {
      this.queryError = e as AppError;
      this.queryResult = null;
      this.queriedSignature = null;
      return false;
    } finally {
      this.queryBusy = false;
    }
  }

  // --- 6. secrets -------------------------------------------------------------------------

  /** Store a secret under `<job>/<path>` and return its reference (null on failure, with secretError set). */
  async storeSecret(path: string, value: string): Promise<string | null> {
    this.pendingSecrets++;
    this.secretError = null;
    try {
      return await backend.storeSecret(`${secretPrefix(this.draft)}/${path}`, value);
    } catch (e) {
      this.secretError = e as AppError;
      return null;
    } finally {
      this.pendingSecrets--;
    }
  }

  // --- 7. schedule ------------------------------------------------------------------------

  async checkSchedule(expr: string) {
    const e = expr.trim();
    if (!e) return;
    try {
      const info = await backend.describeSchedule(e);
      if (this.draft.frequency.trim() === e) this.schedule = { expr: e, info, error: null };
    } catch (err) {
      if (this.draft.frequency.trim() === e) this.schedule = { expr: e, info: null, error: err as AppError };
    }
  }

  // --- 8. preview and save ----------------------------------------------------------------

  async runPreview() {
    this.previewBusy = true;
    this.previewError = null;
    try {
      this.preview = await backend.previewDraft($state.snapshot(this.draft));
      this.carried = null;
    } catch (e) {
      this.previewError = e as AppError;
      this.preview = null;
    } finally {
      this.previewBusy = false;
    }
  }

  async save(runNow: boolean): Promise<SaveResult | null> {
    this.saveBusy = true;
    this.saveError = null;
    try {
      return await backend.saveDraft($state.snapshot(this.draft), runNow);
    } catch (e) {
      this.saveError = e as AppError;
      return null;
    } finally {
      this.saveBusy = false;
    }
  }
}
