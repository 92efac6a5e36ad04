# A long-running application on the AWS SDK for Ruby v3, as Debian packages it, for
# `make compat`: one S3 client made at start with the SDK's default credential chain
# (environment, shared files, credential_process, the container endpoint), then a
# ListObjectsV2 every --interval seconds until --until. Prints JSON lines: {"version"} first,
# then {"t", "ok", "error"} per call, like every probe of `make compat`.
require 'json'
require 'optparse'
require 'aws-sdk-s3'

opts = {}
OptionParser.new do |o|
  %w[endpoint bucket prefix interval until].each { |k| o.on("--#{k} VALUE") { |v| opts[k] = v } }
end.parse!
interval = Float(opts['interval'])
stop_at = Float(opts['until'])

def emit(fields)
  $stdout.puts(JSON.generate(fields))
  $stdout.flush
end

emit(version: "aws-sdk-core #{Aws::CORE_GEM_VERSION}, aws-sdk-s3 #{Aws::S3::GEM_VERSION} (Ruby #{RUBY_VERSION})")
# Path-style because the endpoint is an IP address; retries as the user would have them.
s3 = Aws::S3::Client.new(endpoint: opts['endpoint'], force_path_style: true,
                         http_open_timeout: 5, http_read_timeout: 20)
while Time.now.to_f < stop_at
  started = Time.now.to_f
  begin
    s3.list_objects_v2(bucket: opts['bucket'], prefix: opts['prefix'])
    emit(t: started, ok: true)
  rescue Aws::Errors::ServiceError => e
    emit(t: started, ok: false, error: "#{e.code}: #{e.message}")
  rescue StandardError => e
    emit(t: started, ok: false, error: "#{e.class}: #{e.message}".gsub(/\s+/, ' ')[0, 400])
  end
  wait = started + interval - Time.now.to_f
  sleep(wait) if wait > 0
end
