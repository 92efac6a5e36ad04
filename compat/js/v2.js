// A long-running application on the AWS SDK for JavaScript v2, for `make compat`: one S3
// client made at start with the SDK's default credential chain (environment, shared files,
// the container endpoint, credential_process), then a ListObjectsV2 every --interval seconds
// until --until. Prints JSON lines: {"version"} first, then {"t", "ok", "error"} per call.
'use strict';
const AWS = require('aws-sdk');
const { args, emit, loop } = require('./probe');

const opts = args();
emit({ version: `aws-sdk (JavaScript v2) ${AWS.VERSION}` });
const s3 = new AWS.S3({
  endpoint: opts.endpoint,
  s3ForcePathStyle: true, // the endpoint is an IP address
  httpOptions: { connectTimeout: 5000, timeout: 20000 },
});
// The chain reports only its last provider's failure ("Missing credentials in config"); when a
// container endpoint is set, the probe also says why the SDK's own container provider (the one
// in the chain) refused it, as aws-sdk-go's verbose chain errors do.
async function call() {
  try {
    return await s3.listObjectsV2({ Bucket: opts.bucket, Prefix: opts.prefix }).promise();
  } catch (e) {
    if (e.code === 'CredentialsError' && process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI) {
      try {
        await new AWS.ECSCredentials().getPromise();
      } catch (ce) {
        e.message += ` (its container provider: ${ce.code || ce.name}: ${ce.message})`;
      }
    }
    throw e;
  }
}
loop(opts, call, (e) => `${e.code || e.name}: ${e.message}`);
