/** Exit codes, as in the original: 2 for configuration errors, 1 for anything unexpected. */
export const EXIT_CONFIG = 2
export const EXIT_UNEXPECTED = 1
