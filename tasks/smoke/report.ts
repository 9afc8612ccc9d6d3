// Smoke results for CI: JUnit XML (one testsuite per VM, one testcase per check) written
// with junit-report-builder, and TAP version 13.
import junitModule, { type Builder } from 'junit-report-builder';
import type { CheckResult } from './checks.ts';

// The package is CommonJS whose module.exports is the builder itself; its types describe an
// ES default export, so under NodeNext TypeScript sees one level too many.
const junit = junitModule as unknown as Builder;

export function junitXml(lab: string, results: CheckResult[]): string {
  const b = junit.newBuilder().name(`smoke ${lab}`);
  for (const suite of [...new Set(results.map((r) => r.suite))]) {
    const s = b.testSuite().name(`${lab}.${suite}`);
    for (const r of results.filter((x) => x.suite === suite)) {
      const c = s.testCase().className(`${lab}.${suite}`).name(r.check).time(r.seconds);
      if (!r.ok) {
        c.failure(r.message ?? 'failed');
        if (r.stdout) c.standardOutput(r.stdout);
        if (r.stderr) c.standardError(r.stderr);
      }
    }
  }
  return b.build();
}

const yamlBlock = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

export function tap(results: CheckResult[]): string {
  const lines = ['TAP version 13', `1..${results.length}`];
  results.forEach((r, i) => {
    lines.push(`${r.ok ? 'ok' : 'not ok'} ${i + 1} - ${r.suite}: ${r.check}`);
    if (!r.ok) {
      lines.push('  ---', `  message: ${JSON.stringify(r.message ?? 'failed')}`, `  seconds: ${r.seconds}`);
      if (r.stdout) lines.push('  stdout: |', yamlBlock(r.stdout));
      if (r.stderr) lines.push('  stderr: |', yamlBlock(r.stderr));
      lines.push('  ...');
    }
  });
  return lines.join('\n');
}
