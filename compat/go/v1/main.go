// Command probe-go-v1 is a long-running aws-sdk-go (v1) application for `make compat`, built
// from Debian's packaged SDK in GOPATH mode. It makes its S3 client once, in one of two ways
// real programs do, then lists a prefix every -interval seconds until -until:
//
//	-chain session    session.NewSession's default chain (environment, shared files, the
//	                  container endpoint), as most applications do
//	-chain explicit   credentials.NewChainCredentials with the static, environment, shared
//	                  credentials file and EC2 role providers, as the S3 storage driver of
//	                  Docker's registry 2.x (Harbor's registry) builds it: no container endpoint
//
// It prints JSON lines: {"version"} first, then {"t", "ok", "error"} per call.
// CredentialsChainVerboseErrors only makes a failed chain say why each provider failed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go/aws/ec2metadata"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/s3"
)

func emit(fields map[string]interface{}) {
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

// describe keeps the code and message of an AWS error and drops request ids, so runs compare.
func describe(err error) string {
	if aerr, ok := err.(awserr.Error); ok {
		msg := aerr.Code() + ": " + aerr.Message()
		if orig := aerr.OrigErr(); orig != nil {
			msg += " (caused by: " + describe(orig) + ")"
		}
		return strings.Join(strings.Fields(msg), " ")
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func main() {
	endpoint := flag.String("endpoint", "", "S3 endpoint URL")
	bucket := flag.String("bucket", "", "bucket")
	prefix := flag.String("prefix", "", "prefix to list")
	interval := flag.Float64("interval", 5, "seconds between calls")
	until := flag.Float64("until", 0, "stop at this Unix time")
	chain := flag.String("chain", "session", "session or explicit")
	flag.Parse()

	emit(map[string]interface{}{"version": "aws-sdk-go " + aws.SDKVersion + " (" + *chain + ")"})
	cfg := aws.NewConfig().
		WithEndpoint(*endpoint).
		WithS3ForcePathStyle(true).
		WithHTTPClient(&http.Client{Timeout: 20 * time.Second}).
		WithCredentialsChainVerboseErrors(true)
	sess, err := session.NewSession(cfg)
	if err != nil {
		emit(map[string]interface{}{"t": float64(time.Now().UnixNano()) / 1e9, "ok": false, "error": describe(err)})
		os.Exit(1)
	}
	var svc *s3.S3
	switch *chain {
	case "session":
		svc = s3.New(sess)
	case "explicit":
		creds := credentials.NewChainCredentials([]credentials.Provider{
			&credentials.StaticProvider{Value: credentials.Value{}},
			&credentials.EnvProvider{},
			&credentials.SharedCredentialsProvider{},
			&ec2rolecreds.EC2RoleProvider{Client: ec2metadata.New(sess)},
		})
		svc = s3.New(sess, aws.NewConfig().WithCredentials(creds))
	default:
		fmt.Fprintln(os.Stderr, "-chain must be session or explicit")
		os.Exit(2)
	}

	for float64(time.Now().UnixNano())/1e9 < *until {
		started := time.Now()
		t := float64(started.UnixNano()) / 1e9
		_, err := svc.ListObjectsV2(&s3.ListObjectsV2Input{Bucket: aws.String(*bucket), Prefix: aws.String(*prefix)})
		if err != nil {
			emit(map[string]interface{}{"t": t, "ok": false, "error": describe(err)})
		} else {
			emit(map[string]interface{}{"t": t, "ok": true})
		}
		time.Sleep(time.Until(started.Add(time.Duration(*interval * float64(time.Second)))))
	}
}
