/** Exit codes, as in the original: 2 for configuration errors, 1 for anything unexpected. */
export const EXIT_CONFIG = 2
export const EXIT_UNEXPECTED = 1
/** The daemon lost its lease of the cluster (EX_TEMPFAIL): restart it (systemd `Restart=on-failure`). */
export const EXIT_LEASE_LOST = 75
