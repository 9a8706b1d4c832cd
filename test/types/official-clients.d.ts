// The official Clever Cloud clients ship JavaScript without type declarations.
declare module '@clevercloud/client/esm/*'
declare module 'clever-tools/src/*'
