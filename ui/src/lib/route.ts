// Hash routes, so screens (and later the wizard: #/new) slot in without a router library.
export type Route =
  | { screen: 'jobs' }
  | { screen: 'history'; job: string | null }
  | { screen: 'run'; id: number }
  | { screen: 'settings' };

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
  }
}
