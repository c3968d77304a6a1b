import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { setInvoke } from '../lib/backend';
import Wizard from './Wizard.svelte';
import StepSchedule from '../wizard/StepSchedule.svelte';
import StepSave from '../wizard/StepSave.svelte';
import { WizardState } from '../wizard/state.svelte';
import { draft, samplePreview, staffResult } from '../test/fixtures';
import type { Route } from '../lib/route';
import type { JobDraft } from '../lib/types';

afterEach(() => cleanup());

type Call = [string, Record<string, unknown> | undefined];

/** A fake backend: the wizard commands with a few scripted failures. */
function fakeBackend(over: Record<string, (args: Record<string, unknown>) => unknown> = {}) {
  const calls: Call[] = [];
  setInvoke(async (cmd, args) => {
    calls.push([cmd, args ? JSON.parse(JSON.stringify(args)) : undefined]);
    const a = args ?? {};
    if (over[cmd]) return over[cmd](a);
    switch (cmd) {
      case 'wizard_new':
        return draft();
      case 'wizard_verify_token':
        if (a.token !== 'eu--good')
          throw { code: 'token', message: 'Fliplet did not accept this token.', hint: 'Create a new API token in Fliplet Studio.', field: 'authToken' };
        return {
          reference: 'keychain:fliplet-agent/draft/auth_token',
          user: { id: 1, fullName: 'Ada Lovelace', email: 'ada@x.org' },
          region: 'eu',
          apiUrl: 'https://api.fliplet.com/',
          organizations: [{ id: 7, name: 'Acme' }],
        };
      case 'wizard_data_sources':
        return [
          { id: 42, name: 'Staff', appId: null, organizationId: 7 },
          { id: 43, name: 'Sales', appId: 3, organizationId: 7 },
        ];
      case 'wizard_data_source':
        return a.id === 43
          ? { id: 43, name: 'Sales', columns: null, entryCount: null, accessError: { code: 'no_access', message: 'This token cannot read data source 43.', hint: 'In Fliplet Studio, give the token access to the data source.' } }
          : { id: 42, name: 'Staff', columns: ['id', 'email'], entryCount: 12, accessError: null };
      case 'wizard_test_connection':
        if (a.password !== 'right')
          throw { code: 'database', message: 'Cannot connect to PostgreSQL at localhost:5432: password authentication failed for user "sync"', field: 'database.password' };
        return { password: 'keychain:fliplet-agent/draft/database', description: 'PostgreSQL at localhost:5432/sales', serverVersion: '16.2' };
      case 'wizard_run_query':
        if (String((a.draft as JobDraft).query).includes('nope')) throw { code: 'query', message: 'relation "nope" does not exist' };
        return staffResult;
      case 'describe_schedule':
        if (a.expr === 'bad') throw { code: 'schedule', message: 'Invalid cron expression: bad' };
        return { description: 'Every 15 minutes.', next: ['2025-01-01T00:15:00Z', '2025-01-01T00:30:00Z'] };
      case 'wizard_preview':
        return samplePreview;
      case 'wizard_save':
        return { job: { id: (a.draft as JobDraft).name }, run: null };
      default:
        throw { code: 'other', message: `unexpected ${cmd}` };
    }
  });
  return calls;
}

const type = (el: string | HTMLElement, value: string) =>
  fireEvent.input(typeof el === 'string' ? screen.getByTestId(el) : el, { target: { value } });
const next = () => fireEvent.click(screen.getByTestId('wizard-next'));

describe('wizard', () => {
  it('shows a wrong token’s message and hint next to the field, and blocks Next', async () => {
    fakeBackend();
    render(Wizard, { props: { route: { screen: 'new' }, onExit: () => {} } });
    const input = await screen.findByTestId('token-input');
    expect(screen.getByTestId('wizard-step-1')).toBeTruthy();
    expect((screen.getByTestId('wizard-next') as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByTestId('wizard-reason').textContent).toMatch(/token/);

    await type('token-input', 'eu--wrong');
    await fireEvent.click(screen.getByTestId('token-verify'));
    const error = await screen.findByTestId('token-error');
    expect(error.textContent).toContain('Fliplet did not accept this token.');
    expect(error.textContent).toContain('Create a new API token in Fliplet Studio.');
    expect(input.getAttribute('aria-describedby')).toBe('token-error');
    expect(error.id).toBe('token-error');
    expect((screen.getByTestId('wizard-next') as HTMLButtonElement).disabled).toBe(true);
  });

  it('offers a CA certificate on a TLS error', async () => {
    fakeBackend({
      wizard_verify_token: () => {
        throw { code: 'tls', message: 'The certificate of api.fliplet.com is not trusted.', hint: 'A proxy may intercept HTTPS.' };
      },
    });
    render(Wizard, { props: { route: { screen: 'new' }, onExit: () => {} } });
    await type(await screen.findByTestId('token-input'), 'eu--x');
    await fireEvent.submit(screen.getByTestId('token-input').closest('form')!);
    await fireEvent.click(await screen.findByTestId('token-ca-offer'));
    expect((screen.getByTestId('token-advanced') as HTMLDetailsElement).open).toBe(true);
    expect(screen.getByTestId('token-ca-file')).toBeTruthy();
  });

  it('walks through the steps to save, checking each one through the backend', async () => {
    const calls = fakeBackend();
    const exits: Route[] = [];
    render(Wizard, { props: { route: { screen: 'new' }, onExit: (r: Route) => exits.push(r) } });

    // 1. token (Enter in the field verifies: it is a form)
    await type(await screen.findByTestId('token-input'), 'eu--good');
    await fireEvent.submit(screen.getByTestId('token-input').closest('form')!);
    expect((await screen.findByTestId('token-user')).textContent).toContain('Ada Lovelace');
    expect(screen.getByTestId('token-orgs').textContent).toContain('Acme');
    expect(screen.getByTestId('token-stored')).toBeTruthy();
    expect(screen.queryByTestId('token-input')).toBeNull();
    await next();

    // 2. data source: an unreadable one shows why, a readable one its columns
    await screen.findByTestId('wizard-step-2');
    await fireEvent.click(await screen.findByTestId('ds-item-43'));
    const denied = await screen.findByTestId('ds-access-error');
    expect(denied.textContent).toContain('cannot read data source 43');
    expect(denied.textContent).toContain('give the token access');
    expect((screen.getByTestId('wizard-next') as HTMLButtonElement).disabled).toBe(true);
    await type('ds-search', 'sta');
    expect(screen.queryByTestId('ds-item-43')).toBeNull();
    await fireEvent.click(screen.getByTestId('ds-item-42'));
    await waitFor(() => expect(screen.getByTestId('ds-entry-count').textContent).toBe('12 entries'));
    expect(screen.getByTestId('ds-columns').textContent).toContain('email');
    await next();

    // 3. connection: the driver's error is shown; a good password passes
    await screen.findByTestId('wizard-step-3');
    expect(screen.getByTestId('db-port').getAttribute('placeholder')).toBe('5432');
    await type('db-name', 'sales');
    await type('db-user', 'sync');
    await type('db-password', 'wrong');
    await fireEvent.click(screen.getByTestId('db-test'));
    expect((await screen.findByTestId('db-error')).textContent).toContain('password authentication failed for user "sync"');
    expect(screen.getByTestId('db-password').getAttribute('aria-describedby')).toBe('db-error');
    expect((screen.getByTestId('wizard-next') as HTMLButtonElement).disabled).toBe(true);
    await type('db-password', 'right');
    await fireEvent.click(screen.getByTestId('db-test'));
    expect((await screen.findByTestId('db-result')).textContent).toContain('PostgreSQL at localhost:5432/sales');
    expect(screen.getByTestId('db-result').textContent).toContain('16.2');
    expect((screen.getByTestId('db-password') as HTMLInputElement).value).toBe('');
    expect(screen.getByTestId('db-password').getAttribute('placeholder')).toMatch(/keychain/);
    // A changed field needs a new test.
    await type('db-host', 'elsewhere');
    expect((screen.getByTestId('wizard-next') as HTMLButtonElement).disabled).toBe(true);
    await type('db-host', '');
    expect((screen.getByTestId('wizard-next') as HTMLButtonElement).disabled).toBe(false);
    await next();

    // 4. query: errors under the editor; Ctrl+Enter runs
    await screen.findByTestId('wizard-step-4');
    await type('query-input', 'select * from nope');
    await fireEvent.keyDown(screen.getByTestId('query-input'), { key: 'Enter', ctrlKey: true });
    expect((await screen.findByTestId('query-error')).textContent).toContain('relation "nope" does not exist');
    await type('query-input', 'select id, email, updated_at from staff');
    await fireEvent.click(screen.getByTestId('query-run'));
    const table = await screen.findByTestId('query-table');
    expect(table.querySelector('th')?.textContent).toBe('idint4');
    expect(table.textContent).toContain('b@x.org');
    await next();

    // 5. mapping
    await screen.findByTestId('wizard-step-5');
    expect(screen.getByTestId('map-no-pk-warning')).toBeTruthy();
    expect(screen.getByTestId('map-new-columns').textContent).toContain('updated_at');
    await fireEvent.change(screen.getByTestId('map-primary'), { target: { value: 'id' } });
    expect(screen.queryByTestId('map-no-pk-warning')).toBeNull();
    await type('map-batch-size', '0');
    expect(screen.getByTestId('map-batch-error').textContent).toMatch(/between 1 and 100000/);
    expect((screen.getByTestId('wizard-next') as HTMLButtonElement).disabled).toBe(true);
    await type('map-batch-size', '500');
    await fireEvent.click(screen.getByTestId('map-mode-replace'));
    await next();

    // 6. files: the primary key cannot be encrypted
    await screen.findByTestId('wizard-step-6');
    await fireEvent.click(screen.getByTestId('encrypt-enable'));
    expect((screen.getByTestId('encrypt-id') as HTMLInputElement).disabled).toBe(true);
    await fireEvent.click(screen.getByTestId('encrypt-email'));
    await next();

    // 7. schedule
    await screen.findByTestId('wizard-step-7');
    await fireEvent.change(screen.getByTestId('schedule-preset'), { target: { value: 'every15' } });
    await waitFor(() => expect(screen.getByTestId('schedule-description').textContent).toContain('Every 15 minutes.'));
    expect(screen.getByTestId('schedule-next').querySelectorAll('li')).toHaveLength(2);
    await next();

    // 8. preview and save
    await screen.findByTestId('wizard-step-8');
    expect((screen.getByTestId('job-name') as HTMLInputElement).value).toBe('staff');
    await screen.findByTestId('preview-deletes');
    await fireEvent.click(screen.getByTestId('save-run'));
    await waitFor(() => expect(exits).toEqual([{ screen: 'jobs' }]));

    const saved = calls.find(([c]) => c === 'wizard_save')![1]!;
    expect(saved.runNow).toBe(true);
    expect(saved.draft).toMatchObject({
      name: 'staff',
      authToken: 'keychain:fliplet-agent/draft/auth_token',
      dataSourceId: 42,
      database: { driver: 'postgres', database: 'sales', username: 'sync', password: 'keychain:fliplet-agent/draft/database' },
      query: 'select id, email, updated_at from staff',
      primaryColumn: 'id',
      mode: 'replace',
      batchSize: 500,
      encrypt: { fields: ['email'], key: null },
      frequency: '*/15 * * * *',
    });
    // The typed secrets never reach the backend again after being stored.
    expect(JSON.stringify(saved)).not.toContain('eu--good');
    expect(JSON.stringify(saved)).not.toContain('"right"');
  });

  it('edits a saved job: stored token, auto-checked connection and query', async () => {
    const saved = draft({
      id: 'staff',
      name: 'staff',
      authToken: 'keychain:fliplet-agent/staff/auth_token',
      dataSourceId: 42,
      database: { ...draft().database, database: 'sales', username: 'sync', password: 'keychain:fliplet-agent/staff/database' },
      query: 'select id, email, updated_at from staff',
      primaryColumn: 'id',
      frequency: '30 2 * * *',
    });
    const calls = fakeBackend({
      wizard_load: () => saved,
      wizard_test_connection: () => ({ password: null, description: 'PostgreSQL at localhost:5432/sales', serverVersion: null }),
    });
    render(Wizard, { props: { route: { screen: 'edit', id: 'staff' }, onExit: () => {} } });
    expect((await screen.findByTestId('token-stored')).textContent).toContain('Token stored in keychain');
    await next();
    await waitFor(() => expect((screen.getByTestId('wizard-next') as HTMLButtonElement).disabled).toBe(false));
    await next();
    await screen.findByTestId('db-result');
    expect(screen.getByTestId('db-password').getAttribute('placeholder')).toBe('Stored in keychain — type to replace');
    await next();
    await screen.findByTestId('query-table');
    await next();
    expect((screen.getByTestId('map-primary') as HTMLSelectElement).value).toBe('id');
    await next();
    await next();
    expect((screen.getByTestId('schedule-preset') as HTMLSelectElement).value).toBe('daily');
    expect((screen.getByTestId('schedule-time') as HTMLInputElement).value).toBe('02:30');
    expect(calls.some(([c, a]) => c === 'wizard_test_connection' && a?.password === null)).toBe(true);
  });

  it('shows an invalid custom cron expression next to the field and blocks Next', async () => {
    fakeBackend();
    const w = new WizardState(draft({ frequency: '0 * * * *' }), 'new');
    render(StepSchedule, { props: { w, debounceMs: 0 } });
    expect((screen.getByTestId('schedule-preset') as HTMLSelectElement).value).toBe('hourly');
    await waitFor(() => expect(screen.getByTestId('schedule-description').textContent).toContain('Every 15 minutes.'));
    await fireEvent.change(screen.getByTestId('schedule-preset'), { target: { value: 'custom' } });
    await type('schedule-cron', 'bad');
    const error = await screen.findByTestId('schedule-error');
    expect(error.textContent).toContain('Invalid cron expression: bad');
    expect(screen.getByTestId('schedule-cron').getAttribute('aria-describedby')).toBe('schedule-error');
    expect(w.problem(6)).toMatch(/Fix the schedule/);
    await fireEvent.change(screen.getByTestId('schedule-preset'), { target: { value: 'never' } });
    expect(w.draft.frequency).toBe('');
    expect(w.problem(6)).toBeNull();
    expect(screen.getByTestId('schedule-description').textContent).toMatch(/Never/);
  });

  it('says when a job cannot be edited in the wizard', async () => {
    fakeBackend({
      wizard_load: () => {
        throw { code: 'validation', message: 'This job has 2 operations: edit its file instead.' };
      },
    });
    const exits: Route[] = [];
    render(Wizard, { props: { route: { screen: 'edit', id: 'multi' }, onExit: (r: Route) => exits.push(r) } });
    expect((await screen.findByTestId('wizard-load-error')).textContent).toContain('2 operations');
    await fireEvent.click(screen.getByTestId('wizard-back-to-jobs'));
    expect(exits).toEqual([{ screen: 'jobs' }]);
  });

  it('asks before discarding changes', async () => {
    fakeBackend();
    const exits: Route[] = [];
    render(Wizard, { props: { route: { screen: 'new' }, onExit: (r: Route) => exits.push(r) } });
    await screen.findByTestId('token-input');
    await fireEvent.input(screen.getByTestId('token-api-url'), { target: { value: 'https://fliplet.internal/' } });
    await fireEvent.click(screen.getByTestId('wizard-cancel'));
    expect(exits).toEqual([]);
    await fireEvent.click(screen.getByTestId('wizard-keep'));
    await fireEvent.click(screen.getByTestId('wizard-cancel'));
    await fireEvent.click(screen.getByTestId('wizard-discard'));
    expect(exits).toEqual([{ screen: 'jobs' }]);
  });

  it('shows save and preview errors next to their field, or links to their step', async () => {
    fakeBackend({
      wizard_preview: () => {
        throw { code: 'query', message: 'relation "staff" does not exist', field: 'query' };
      },
      wizard_save: () => {
        throw { code: 'validation', message: 'A job named “staff” already exists.', hint: 'Choose another name.', field: 'name' };
      },
    });
    const w = new WizardState(draft({ name: 'staff' }), 'new');
    w.step = 7;
    render(StepSave, { props: { w } });
    expect((await screen.findByTestId('preview-error')).textContent).toContain('relation "staff" does not exist');
    await w.save(false);
    const err = await screen.findByTestId('save-error');
    expect(err.textContent).toContain('already exists');
    expect(err.textContent).toContain('Choose another name.');
    expect(screen.getByTestId('job-name').getAttribute('aria-describedby')).toBe('save-error');
    await fireEvent.input(screen.getByTestId('job-name'), { target: { value: 'bad name' } });
    expect((await screen.findByTestId('job-name-error')).textContent).toMatch(/letters/);
    await fireEvent.click(screen.getByTestId('preview-error-goto'));
    expect(w.step).toBe(3);
    expect(w.carried?.message).toContain('relation "staff" does not exist');
  });
});
