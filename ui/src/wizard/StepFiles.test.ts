import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { setInvoke } from '../lib/backend';
import StepFiles from './StepFiles.svelte';
import { WizardState } from './state.svelte';
import { draft, staffResult } from '../test/fixtures';

afterEach(() => cleanup());

async function withQuery(over = {}) {
  setInvoke(async (cmd, args) => {
    if (cmd === 'wizard_run_query') return { ...staffResult, columns: [...staffResult.columns, { name: 'photo', type: 'text' }] };
    if (cmd === 'wizard_store_secret') return `keychain:fliplet-agent/${(args as { name: string }).name}`;
    if (cmd === 'wizard_test_connection') return { password: null, description: 'x', serverVersion: null };
    throw { code: 'other', message: cmd };
  });
  const w = new WizardState(draft({ query: 'select', database: { ...draft().database, database: 'db' }, ...over }), 'new');
  await w.testConnection();
  await w.runQuery();
  return w;
}

describe('files and encryption step', () => {
  it('marks a column as a remote file with a header stored in the keychain', async () => {
    const w = await withQuery({ name: 'staff', primaryColumn: 'id' });
    render(StepFiles, { props: { w } });
    await fireEvent.change(screen.getByTestId('file-type-photo'), { target: { value: 'remote' } });
    await fireEvent.click(await screen.findByTestId('file-header-add-photo'));
    await fireEvent.input(screen.getByTestId('file-header-name-photo-0'), { target: { value: 'Authorization' } });
    expect(w.problem(5)).toMatch(/value of the header/);
    const value = screen.getByTestId('file-header-value-photo-0') as HTMLInputElement;
    await fireEvent.input(value, { target: { value: 'Bearer s3cret' } });
    await fireEvent.change(value);
    await waitFor(() => expect(w.draft.files[0].headers[0].value).toBe('keychain:fliplet-agent/staff/files/photo/Authorization'));
    await waitFor(() => expect(value.value).toBe(''));
    expect(w.problem(5)).toBeNull();
    expect(JSON.stringify(w.draft)).not.toContain('s3cret');
    await fireEvent.change(screen.getByTestId('file-type-photo'), { target: { value: 'folder' } });
    expect(w.draft.files[0]).toMatchObject({ column: 'photo', type: 'local' });
    expect(screen.getByTestId('file-dir-photo')).toBeTruthy();
    await fireEvent.change(screen.getByTestId('file-type-photo'), { target: { value: 'none' } });
    expect(w.draft.files).toEqual([]);
  });

  it('never encrypts the primary key, and stores a fixed key', async () => {
    const w = await withQuery({ name: 'staff', primaryColumn: 'id' });
    render(StepFiles, { props: { w } });
    await fireEvent.click(screen.getByTestId('encrypt-enable'));
    expect((screen.getByTestId('encrypt-id') as HTMLInputElement).disabled).toBe(true);
    expect(screen.getByTestId('encrypt-id').closest('label')!.textContent).toContain('cannot be encrypted');
    expect(w.problem(5)).toMatch(/Choose the columns/);
    await fireEvent.click(screen.getByTestId('encrypt-email'));
    expect(w.problem(5)).toBeNull();
    await fireEvent.click(screen.getByTestId('encrypt-key-fixed'));
    expect(w.problem(5)).toMatch(/encryption key/);
    const key = screen.getByTestId('encrypt-key');
    await fireEvent.input(key, { target: { value: 'k3y' } });
    await fireEvent.change(key);
    await waitFor(() => expect(w.draft.encrypt).toEqual({ fields: ['email'], key: 'keychain:fliplet-agent/staff/encrypt/key' }));
    await fireEvent.click(screen.getByTestId('encrypt-key-keystore'));
    expect(w.draft.encrypt!.key).toBeNull();
  });
});
