// Hash routes, so screens (and the wizard: #/new, #/edit/<id>, #/import) slot in without a router library.
export type Route =
  | { screen: 'jobs' }
  | { screen: 'history'; job: string | null }
  | { screen: 'run'; id: number }
  | { screen: 'settings' }
  /** The wizard on a blank draft. */
  | { screen: 'new' }
  /** The wizard on a saved job. */
  | { screen: 'edit'; id: string }
  /** The wizard on an imported fliplet-agent YAML file (path null: ask for the file). */
  | { screen: 'import'; path: string | null }
  /** The dry-run preview of a saved job. */
  | { screen: 'preview'; id: string };

/** The routes that show the wizard. */
export const isWizard = (r: Route): r is Extract<Route, { screen: 'new' | 'edit' | 'import' }> =>
  r.screen === 'new' || r.screen === 'edit' || r.screen === 'import';

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case 'history':
      return { screen: 'history', job: parts[1] ?? null };
    case 'run': {
      const id = Number(parts[1]);
      return Number.isInteger(id) && id > 0 ? { screen: 'run', id } : { screen: 'history', job: null };
    }
    case 'settings':
      return { screen: 'settings' };
    case 'new':
      return { screen: 'new' };
    case 'edit':
      return parts[1] ? { screen: 'edit', id: parts[1] } : { screen: 'jobs' };
    case 'preview':
      return parts[1] ? { screen: 'preview', id: parts[1] } : { screen: 'jobs' };
    case 'import':
      return { screen: 'import', path: parts[1] ?? null };
    default:
      return { screen: 'jobs' };
  }
}

export function routeHash(r: Route): string {
  switch (r.screen) {
    case 'jobs':
      return '#/jobs';
    case 'history':
      return r.job ? `#/history/${encodeURIComponent(r.job)}` : '#/history';
    case 'run':
      return `#/run/${r.id}`;
    case 'settings':
      return '#/settings';
    case 'new':
      return '#/new';
    case 'edit':
      return `#/edit/${encodeURIComponent(r.id)}`;
    case 'preview':
      return `#/preview/${encodeURIComponent(r.id)}`;
    case 'import':
      return r.path ? `#/import/${encodeURIComponent(r.path)}` : '#/import';
  }
}
