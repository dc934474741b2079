/**
 * Types for s3rver 3.7 (a pure-JS S3 server, a devDependency used by the model-store tests only); the
 * package ships none. Only the part the tests use is declared.
 */
declare module "s3rver" {
  interface S3rverOptions {
    port?: number;
    address?: string;
    directory: string;
    silent?: boolean;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
  }
  export default class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
  }
}
