/**
 * The runner's short token, as GitLab shows it in its runner list and as gitlab-runner derives it.
 * It is the runner's unique name here: it prefixes resource names and keys state records.
 *
 * - `glrt-…` (runner authentication tokens, including the routable `glrt-t1_…` ones): the 9
 *   characters after the prefix. The first 8 characters of such a token are the same for every
 *   runner of a type, so they cannot name anything.
 * - `glrtr-…`: the 9 characters after the prefix.
 * - `GR1348941…` (legacy tokens with a rotation prefix): the first 17 characters.
 * - any other token (the original's 20-character ones): the first 8, exactly as the original did,
 *   so its resource names and state files keep working.
 */
export function shortToken(token: string): string {
  for (const prefix of ['glrtr-', 'glrt-']) {
    if (token.startsWith(prefix)) return token.slice(prefix.length, prefix.length + 9)
  }
  if (ROTATION_PREFIX.test(token)) return token.slice(0, 17)
  return token.slice(0, 8)
}

/** Legacy registration/runner tokens with GitLab's rotation prefix (`GR1348941` + hex). */
const ROTATION_PREFIX = /^GR1348941/
