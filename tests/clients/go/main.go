// Command sgo signs and verifies with the published sigstore-go library, for Sigstack's
// end-to-end tests. Its arguments follow the sigstore-conformance client protocol, so the tests
// drive it exactly like the sigstore-rust and sigstore-js test clients:
//
//	sgo sign-bundle --identity-token T --bundle OUT --trusted-root TR --signing-config SC [--in-toto] FILE
//	sgo verify-bundle --bundle B --certificate-identity ID --certificate-oidc-issuer ISS --trusted-root TR FILE
//
// Signing takes every service from the signing config: the Fulcio URL, the Rekor log(s) with
// their major API version (1 or 2), and the timestamp authorities. Verification takes only the
// trusted root and requires an embedded SCT, a transparency log entry, one trusted time source
// (an RFC 3161 timestamp or a Rekor v1 integrated time) and the given identity.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// requestTimeout bounds each call to Fulcio, Rekor or a TSA (Rekor v2 may hold a request until
// a checkpoint covers the entry).
const requestTimeout = 60 * time.Second

type arguments struct {
	flags  map[string]string
	inToto bool
	file   string
}

func parseArguments(args []string) (arguments, error) {
	parsed := arguments{flags: map[string]string{}}
	if len(args) == 0 {
		return parsed, errors.New("missing FILE")
	}
	parsed.file = args[len(args)-1]
	rest := args[:len(args)-1]
	for i := 0; i < len(rest); {
		name := rest[i]
		switch {
		case name == "--in-toto":
			parsed.inToto = true
			i++
		case len(name) > 2 && name[:2] == "--" && i+1 < len(rest):
			parsed.flags[name[2:]] = rest[i+1]
			i += 2
		default:
			return parsed, fmt.Errorf("unexpected argument %q", name)
		}
	}
	return parsed, nil
}

func (a arguments) required(name string) (string, error) {
	value, ok := a.flags[name]
	if !ok || value == "" {
		return "", fmt.Errorf("--%s is required", name)
	}
	return value, nil
}

func signBundle(a arguments) error {
	token, err := a.required("identity-token")
	if err != nil {
		return err
	}
	out, err := a.required("bundle")
	if err != nil {
		return err
	}
	configPath, err := a.required("signing-config")
	if err != nil {
		return err
	}
	rootPath, err := a.required("trusted-root")
	if err != nil {
		return err
	}
	config, err := root.NewSigningConfigFromPath(configPath)
	if err != nil {
		return fmt.Errorf("signing config: %w", err)
	}
	trustedRoot, err := root.NewTrustedRootFromPath(rootPath)
	if err != nil {
		return fmt.Errorf("trusted root: %w", err)
	}
	now := time.Now()

	ca, err := root.SelectService(config.FulcioCertificateAuthorityURLs(), sign.FulcioAPIVersions, now)
	if err != nil {
		return fmt.Errorf("choosing a certificate authority: %w", err)
	}
	options := sign.BundleOptions{
		CertificateProvider:        sign.NewFulcio(&sign.FulcioOptions{BaseURL: ca.URL, Timeout: requestTimeout}),
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: token},
		TrustedRoot:                trustedRoot,
	}

	logs, err := root.SelectServices(config.RekorLogURLs(), config.RekorLogURLsConfig(), sign.RekorAPIVersions, now)
	if err != nil {
		return fmt.Errorf("choosing a transparency log: %w", err)
	}
	for _, log := range logs {
		options.TransparencyLogs = append(options.TransparencyLogs, sign.NewRekor(&sign.RekorOptions{
			BaseURL: log.URL,
			Timeout: requestTimeout,
			Version: log.MajorAPIVersion,
		}))
	}

	authorities, err := root.SelectServices(config.TimestampAuthorityURLs(), config.TimestampAuthorityURLsConfig(),
		sign.TimestampAuthorityAPIVersions, now)
	if err != nil {
		return fmt.Errorf("choosing a timestamp authority: %w", err)
	}
	for _, tsa := range authorities {
		options.TimestampAuthorities = append(options.TimestampAuthorities,
			sign.NewTimestampAuthority(&sign.TimestampAuthorityOptions{URL: tsa.URL, Timeout: requestTimeout}))
	}

	data, err := os.ReadFile(a.file)
	if err != nil {
		return err
	}
	var content sign.Content = &sign.PlainData{Data: data}
	if a.inToto {
		content = &sign.DSSEData{Data: data, PayloadType: "application/vnd.in-toto+json"}
	}
	keypair, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return err
	}
	signed, err := sign.Bundle(content, keypair, options)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	encoded, err := protojson.Marshal(signed)
	if err != nil {
		return err
	}
	return os.WriteFile(out, encoded, 0o600)
}

func verifyBundle(a arguments) error {
	bundlePath, err := a.required("bundle")
	if err != nil {
		return err
	}
	identity, err := a.required("certificate-identity")
	if err != nil {
		return err
	}
	issuer, err := a.required("certificate-oidc-issuer")
	if err != nil {
		return err
	}
	rootPath, err := a.required("trusted-root")
	if err != nil {
		return err
	}
	trustedRoot, err := root.NewTrustedRootFromPath(rootPath)
	if err != nil {
		return fmt.Errorf("trusted root: %w", err)
	}
	unverifiedBundle, err := bundle.LoadJSONFromPath(bundlePath)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	verifier, err := verify.NewVerifier(trustedRoot,
		verify.WithSignedCertificateTimestamps(1),
		verify.WithTransparencyLog(1),
		verify.WithObserverTimestamps(1))
	if err != nil {
		return err
	}
	wanted, err := verify.NewShortCertificateIdentity(issuer, "", identity, "")
	if err != nil {
		return err
	}
	artifact, err := os.Open(a.file)
	if err != nil {
		return err
	}
	defer artifact.Close()
	if _, err := verifier.Verify(unverifiedBundle,
		verify.NewPolicy(verify.WithArtifact(artifact), verify.WithCertificateIdentity(wanted))); err != nil {
		return fmt.Errorf("verification failed: %w", err)
	}
	fmt.Printf("OK: %s\n", a.file)
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sgo sign-bundle|verify-bundle ... FILE")
		os.Exit(2)
	}
	a, err := parseArguments(os.Args[2:])
	if err == nil {
		switch os.Args[1] {
		case "sign-bundle":
			err = signBundle(a)
		case "verify-bundle":
			err = verifyBundle(a)
		default:
			err = fmt.Errorf("unknown command %q", os.Args[1])
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sgo:", err)
		os.Exit(1)
	}
}
