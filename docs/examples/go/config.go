package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// securityOpts: PLAINTEXT by default; SASL_SSL with SCRAM-SHA-512 for an agency's broker account.
func securityOpts() ([]kgo.Opt, error) {
	protocol := env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
	var opts []kgo.Opt
	if strings.HasPrefix(protocol, "SASL") {
		auth := scram.Auth{User: env("KAFKA_SASL_USERNAME", ""), Pass: env("KAFKA_SASL_PASSWORD", "")}
		switch env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512") {
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(auth.AsSha512Mechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(auth.AsSha256Mechanism()))
		default:
			return nil, errors.New("KAFKA_SASL_MECHANISM: SCRAM-SHA-512 or SCRAM-SHA-256")
		}
	}
	if strings.HasSuffix(protocol, "SSL") {
		config := &tls.Config{MinVersion: tls.VersionTLS12}
		if ca := os.Getenv("KAFKA_SSL_CAFILE"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, err
			}
			config.RootCAs = x509.NewCertPool()
			if !config.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("KAFKA_SSL_CAFILE: no PEM certificate in %s", ca)
			}
		}
		opts = append(opts, kgo.DialTLSConfig(config))
	}
	return opts, nil
}

// selfTest: the Standard Webhooks specification's test vector, then a fresh and a tampered message.
func selfTest() error {
	wh, err := standardwebhooks.NewWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		return err
	}
	sig, err := wh.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil || sig != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		return fmt.Errorf("test vector: got %q (%v)", sig, err)
	}
	now := time.Now()
	fresh, _ := wh.Sign("msg_1", now, []byte(`{"a":1}`))
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", fmt.Sprint(now.Unix()))
	h.Set("webhook-signature", "v1,bogus "+fresh)
	if err := wh.Verify([]byte(`{"a":1}`), h); err != nil {
		return fmt.Errorf("a fresh message did not verify: %w", err)
	}
	if wh.Verify([]byte(`{"a":2}`), h) == nil {
		return errors.New("a tampered body verified")
	}
	return nil
}
