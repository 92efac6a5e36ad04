// A long-running application on the AWS SDK for JavaScript v3, for `make compat`: one S3
// client made at start with the default Node.js provider chain (environment, SSO, shared
// files, credential_process, web identity, the container endpoint), then a ListObjectsV2
// every --interval seconds until --until. Prints JSON lines: {"version"} first, then
// {"t", "ok", "error"} per call.
'use strict';
const { S3Client, ListObjectsV2Command } = require('@aws-sdk/client-s3');
const { args, emit, loop } = require('./probe');

const opts = args();
emit({ version: `@aws-sdk/client-s3 (JavaScript v3) ${require('@aws-sdk/client-s3/package.json').version}` });
const s3 = new S3Client({
  endpoint: opts.endpoint,
  forcePathStyle: true, // the endpoint is an IP address
  requestHandler: { connectionTimeout: 5000, requestTimeout: 20000 },
});
loop(opts, () => s3.send(new ListObjectsV2Command({ Bucket: opts.bucket, Prefix: opts.prefix })),
  (e) => `${e.Code || e.name}: ${e.message}`);
