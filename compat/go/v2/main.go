// Command probe-go-v2 is a long-running aws-sdk-go-v2 application for `make compat`, built
// from Debian's packaged SDK in GOPATH mode: config.LoadDefaultConfig's default chain
// (environment, shared files, credential_process, the container endpoint), one S3 client
// made at start, then a ListObjectsV2 every -interval seconds until -until.
//
// It prints JSON lines: {"version"} first, then {"t", "ok", "error"} per call.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func emit(fields map[string]interface{}) {
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

// describe keeps an API error's code and message (no request ids); anything else whole.
func describe(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode() + ": " + apiErr.ErrorMessage()
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func now() float64 { return float64(time.Now().UnixNano()) / 1e9 }

func main() {
	endpoint := flag.String("endpoint", "", "S3 endpoint URL")
	bucket := flag.String("bucket", "", "bucket")
	prefix := flag.String("prefix", "", "prefix to list")
	interval := flag.Float64("interval", 5, "seconds between calls")
	until := flag.Float64("until", 0, "stop at this Unix time")
	flag.Parse()

	emit(map[string]interface{}{"version": "aws-sdk-go-v2 " + aws.SDKVersion})
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithHTTPClient(&http.Client{Timeout: 20 * time.Second}))
	if err != nil {
		emit(map[string]interface{}{"t": now(), "ok": false, "error": describe(err)})
		os.Exit(1)
	}
	svc := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.EndpointResolver = s3.EndpointResolverFromURL(*endpoint)
		o.UsePathStyle = true
	})

	for now() < *until {
		started := time.Now()
		t := now()
		_, err := svc.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(*bucket), Prefix: aws.String(*prefix)})
		if err != nil {
			emit(map[string]interface{}{"t": t, "ok": false, "error": describe(err)})
		} else {
			emit(map[string]interface{}{"t": t, "ok": true})
		}
		time.Sleep(time.Until(started.Add(time.Duration(*interval * float64(time.Second)))))
	}
}
