import os from 'node:os';

/**
 * The operator running the CLI, for audit fields. A uid with no passwd entry (common in
 * containers: `docker run --user 1234`, OpenShift) has no name, and os.userInfo() throws.
 */
export function operatorName(userInfo: () => { username: string } = os.userInfo): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? `uid-${process.getuid?.() ?? 'unknown'}`;
  }
}
