// What the end-to-end scripts share: named steps with their timing, the exit code, and a
// look into the keychain.
import { execFileSync } from 'node:child_process';

export class Steps {
  passed = 0;
  failed = 0;
  /** `onFail(name)` runs after a failing step (e.g. a screenshot). */
  constructor(onFail = async () => {}) {
    this.onFail = onFail;
  }
  async step(name, fn) {
    const t0 = Date.now();
    try {
      await fn();
      this.passed++;
      console.log(`ok   ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      this.failed++;
      console.log(`FAIL ${name}: ${e.stack ?? e}`);
      await this.onFail(name).catch(() => {});
      throw e;
    }
  }
  summary() {
    console.log(`${this.passed} passed, ${this.failed} failed`);
  }
  /** Run `main` and exit: 0 when every step passed. */
  run(main) {
    main().then(
      () => process.exit(this.failed ? 1 : 0),
      (e) => {
        if (!this.failed) console.log(`FAIL ${e.stack ?? e}\n${this.passed} passed, 1 failed`);
        process.exit(1);
      },
    );
  }
}

/** The secret the keychain holds for the app under `name` (null when none). */
export function secretToolLookup(name) {
  try {
    return execFileSync('secret-tool', ['lookup', 'service', 'fliplet-agent', 'username', name], { encoding: 'utf8' });
  } catch {
    return null;
  }
}
