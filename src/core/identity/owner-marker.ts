/** Ownership markers are part of the SDK: executors write and read them. */
export {
  OWNER_LABELS,
  formatOwnerMarker,
  ownerFromLabels,
  ownerLabels,
  parseOwnerMarker,
  requireOwner,
  sameOwner,
  type OwnerMarker,
} from '@heptapod-paas-runner/plugin-api'
