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
loop(opts, () => s3.listObjectsV2({ Bucket: opts.bucket, Prefix: opts.prefix }).promise(),
  (e) => `${e.code || e.name}: ${e.message}`);
