// All of stdin as text: a spec (`--spec -`) or names (`TASK -`).  No dependencies, so the
// CLI runner can use it without loading anything heavy.
export function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c) => (data += c));
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}
