// Component tests of single wizard steps, on a WizardState with a fake backend.
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { setInvoke } from '../lib/backend';
import { HINTS } from '../lib/generated/constants';
import { WizardState } from './state.svelte';
import StepDataSource from './StepDataSource.svelte';
import StepConnection from './StepConnection.svelte';
import StepMapping from './StepMapping.svelte';
import StepToken from './StepToken.svelte';
import { draft, staffResult } from '../test/fixtures';

afterEach(() => cleanup());

function fake(handlers: Record<string, (a: Record<string, unknown>) => unknown>) {
  const calls: [string, Record<string, unknown>][] = [];
  setInvoke(async (cmd, args) => {
    calls.push([cmd, args ?? {}]);
    const h = handlers[cmd];
    if (!h) throw { code: 'other', message: `unexpected ${cmd}` };
    return h(args ?? {});
  });
  return calls;
}

describe('token step', () => {
  it('shows a stored token and lets the user replace it', async () => {
    fake({});
    const w = new WizardState(draft({ authToken: 'keychain:fliplet-agent/token-1' }), 'edit');
    render(StepToken, { props: { w } });
    expect(screen.getByTestId('token-stored').textContent).toContain('Token stored in keychain');
    expect(screen.queryByTestId('token-input')).toBeNull();
    await fireEvent.click(screen.getByTestId('token-replace'));
    const input = screen.getByTestId('token-input') as HTMLInputElement;
    expect(input.type).toBe('password');
    await fireEvent.click(screen.getByTestId('token-show'));
    expect(input.type).toBe('text');
    await fireEvent.click(screen.getByTestId('token-cancel'));
    expect(screen.getByTestId('token-stored')).toBeTruthy();
  });

  it('says where tokens are made, and shows the words of the backend for an empty one', async () => {
    const calls = fake({
      wizard_verify_token: () => {
        throw { code: 'validation', message: 'Paste the API token first.', hint: HINTS.api_token, hint_kind: 'api_token', field: 'token' };
      },
    });
    const w = new WizardState(draft(), 'new');
    render(StepToken, { props: { w } });
    expect(document.body.textContent).toContain('App settings → API tokens');
    await fireEvent.click(screen.getByTestId('token-verify'));
    await waitFor(() => expect(screen.getByTestId('token-error').textContent).toMatch(/Paste/));
    expect(screen.getByTestId('token-error').textContent).toContain(HINTS.api_token);
    expect(calls.map(([cmd]) => cmd)).toEqual(['wizard_verify_token']);
  });
});

describe('data source step', () => {
  it('filters the list and accepts an id that is not listed', async () => {
    const calls = fake({
      wizard_data_sources: () => [
        { id: 42, name: 'Staff', appId: null, organizationId: 1 },
        { id: 43, name: 'Sales', appId: null, organizationId: 1 },
      ],
      wizard_data_source: (a) => ({ id: a.id, name: 'Hidden', columns: [], entryCount: 0, accessError: null }),
    });
    const w = new WizardState(draft({ authToken: 'keychain:t' }), 'new');
    render(StepDataSource, { props: { w } });
    await screen.findByTestId('ds-item-42');
    await fireEvent.input(screen.getByTestId('ds-search'), { target: { value: '4' } });
    expect(screen.getByTestId('ds-item-42')).toBeTruthy();
    expect(screen.getByTestId('ds-item-43')).toBeTruthy();
    await fireEvent.input(screen.getByTestId('ds-search'), { target: { value: '999' } });
    expect(screen.queryByTestId('ds-item-42')).toBeNull();
    await fireEvent.click(screen.getByTestId('ds-use-id'));
    await waitFor(() => expect(screen.getByTestId('ds-info').textContent).toContain('Hidden'));
    expect(calls.at(-1)).toEqual(['wizard_data_source', expect.objectContaining({ id: 999 })]);
    expect(w.draft.dataSourceId).toBe(999);
    expect(w.problem(1)).toBeNull();
    // Enter in the search field picks the only match.
    await fireEvent.input(screen.getByTestId('ds-search'), { target: { value: 'sal' } });
    await fireEvent.keyDown(screen.getByTestId('ds-search'), { key: 'Enter' });
    await waitFor(() => expect(w.draft.dataSourceId).toBe(43));
  });
});

describe('connection step', () => {
  it('shows the fields of each driver and browses for a SQLite file', async () => {
    const calls = fake({ pick_file: () => '/data/staff.sqlite' });
    const w = new WizardState(draft(), 'new');
    render(StepConnection, { props: { w } });
    expect(screen.queryByTestId('db-domain')).toBeNull();
    await fireEvent.change(screen.getByTestId('db-driver'), { target: { value: 'mssql' } });
    expect(screen.getByTestId('db-domain')).toBeTruthy();
    expect(screen.getByTestId('db-instance')).toBeTruthy();
    expect(screen.getByTestId('db-encrypt')).toBeTruthy();
    expect(screen.getByTestId('db-port').getAttribute('placeholder')).toBe('1433');
    await fireEvent.change(screen.getByTestId('db-driver'), { target: { value: 'sqlite' } });
    expect(screen.queryByTestId('db-host')).toBeNull();
    expect(screen.queryByTestId('db-password')).toBeNull();
    await fireEvent.click(screen.getByTestId('db-browse'));
    await waitFor(() => expect((screen.getByTestId('db-file') as HTMLInputElement).value).toBe('/data/staff.sqlite'));
    expect(calls).toContainEqual(['pick_file', { title: 'Choose the SQLite database file', extensions: ['sqlite', 'db', 'sqlite3'] }]);
  });

  it('validates the port', async () => {
    fake({});
    const w = new WizardState(draft({ database: { ...draft().database, database: 'x' } }), 'new');
    render(StepConnection, { props: { w } });
    await fireEvent.input(screen.getByTestId('db-port'), { target: { value: '70000' } });
    expect(screen.getByTestId('db-port-error').textContent).toMatch(/between 1 and 65535/);
    expect((screen.getByTestId('db-test') as HTMLButtonElement).disabled).toBe(true);
    await fireEvent.input(screen.getByTestId('db-port'), { target: { value: '' } });
    expect(w.draft.database.port).toBeNull();
    expect((screen.getByTestId('db-test') as HTMLButtonElement).disabled).toBe(false);
  });
});

describe('mapping step', () => {
  it('warns about duplicate primary keys and explains the modes', async () => {
    fake({
      wizard_test_connection: () => ({ password: null, description: 'x', serverVersion: null }),
      // The backend finds the key issues (the sync plan's key rule): `id` 1 is in rows 1 and 3.
      wizard_run_query: () => ({
        ...staffResult,
        rows: [...staffResult.rows, [1, 'c@x.org', null]],
        keys: staffResult.keys.map((k) =>
          k.column === 'id' ? { ...k, duplicates: [{ value: '1', rows: [1, 3] }], duplicates_ignoring_case: [{ value: '1', rows: [1, 3] }] } : k,
        ),
      }),
    });
    const w = new WizardState(draft({ query: 'q', database: { ...draft().database, database: 'x' } }), 'new');
    await w.testConnection();
    await w.runQuery();
    render(StepMapping, { props: { w } });
    expect(screen.getByTestId('map-no-pk-warning').textContent).toMatch(/every run adds all the rows again/);
    await fireEvent.change(screen.getByTestId('map-primary'), { target: { value: 'id' } });
    expect(screen.getByTestId('map-pk-warning').textContent).toContain('“1” in several rows (1, 3)');
    expect(screen.getByTestId('map-mode-update').closest('label')!.textContent).toMatch(/kept/);
    expect(screen.getByTestId('map-mode-replace').closest('label')!.textContent).toMatch(/deleted/);
    await fireEvent.click(screen.getByTestId('map-hook-update'));
    expect(w.draft.runHooks).toEqual(['update']);
    await fireEvent.input(screen.getByTestId('map-concurrency'), { target: { value: '25' } });
    expect(screen.getByTestId('map-concurrency-warning')).toBeTruthy();
    expect(w.problem(4)).toBeNull();
  });
});
