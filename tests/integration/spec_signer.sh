#!/usr/bin/env bash
# An independent signer, written from ../shared/spec/signed-image-format.md alone with
# tar, gzip, openssl, sha256sum and skopeo: no layerseal code. The conformance test runs it
# and checks that layerseal verifies what it makes (and denies its deliberate deviations).
#
# Usage: spec_signer.sh WORKDIR REGISTRY REPO KEY.pem ALGORITHM [VARIANT]
#   ALGORITHM: ecdsa-p256-sha256 | rsa-pkcs1v15-sha256 | rsa-pss-sha256 | ed25519
#   VARIANT:   ok (default) | gnu-tar | pax-tar | wrong-digest
# Pushes REPO:base (the base image, which also puts Cb in the repository) and REPO:signed.
set -euo pipefail
W=$1 REG=$2 REPO=$3 KEY=$4 ALG=$5 VARIANT=${6:-ok}
mkdir -p "$W/blobs" "$W/rootfs" "$W/m/.layerseal" "$W/s/.layerseal"
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
blob() { local d; d=$(sha "$1"); cp "$1" "$W/blobs/$d"; echo "$d"; }
seal_tar() {  # seal_tar DIR OUT: the one file under DIR/.layerseal, as the variant says
  local format=ustar
  case $VARIANT in gnu-tar) format=gnu ;; pax-tar) format=pax ;; esac
  tar --format=$format --owner=0 --group=0 --numeric-owner --mtime=@0 --mode=0644 \
    -C "$1" -cf "$2" "$(cd "$1" && ls .layerseal/* )"
}

# The base image: one layer, a config with history, an OCI manifest (Mb).
echo "independent signer" > "$W/rootfs/hello.txt"
tar --format=ustar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$W/rootfs" -cf "$W/l1.tar" hello.txt
gzip -n -c "$W/l1.tar" > "$W/l1.tgz"
L1=$(blob "$W/l1.tgz") L1_SIZE=$(size "$W/l1.tgz") L1_DIFF=$(sha "$W/l1.tar")
config() {  # config EXTRA_DIFF_IDS EXTRA_HISTORY
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/hello"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"%s]},"history":[{"created_by":"base"}%s]}' \
    "$L1_DIFF" "$1" "$2"
}
config "" "" > "$W/cb.json"
CB=$(blob "$W/cb.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
  "$CB" "$(size "$W/cb.json")" "$L1" "$L1_SIZE" > "$W/mb.json"
MB=$(blob "$W/mb.json")

# Section 3: the envelope over SHA-256(Mb), with the spec table's openssl commands.
openssl dgst -sha256 -binary "$W/mb.json" > "$W/digest.bin"
case $ALG in
  ecdsa-p256-sha256|rsa-pkcs1v15-sha256) openssl dgst -sha256 -sign "$KEY" -out "$W/sig" "$W/mb.json" ;;
  rsa-pss-sha256) openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -sign "$KEY" -out "$W/sig" "$W/mb.json" ;;
  ed25519) openssl pkeyutl -sign -rawin -inkey "$KEY" -in "$W/digest.bin" -out "$W/sig" ;;
  *) echo "unknown algorithm $ALG" >&2; exit 2 ;;
esac
KEYID=$(openssl pkey -in "$KEY" -pubout -outform DER | sha256sum | cut -d' ' -f1)
SIGNED_DIGEST=$MB
[ "$VARIANT" = wrong-digest ] && SIGNED_DIGEST=$(printf other | sha256sum | cut -d' ' -f1)
printf '{"schemaVersion":1,"type":"layerseal.signature.v1","manifestDigest":"sha256:%s","algorithm":"%s","keyId":"sha256:%s","signature":"%s"}' \
  "$SIGNED_DIGEST" "$ALG" "$KEYID" "$(base64 -w0 "$W/sig")" > "$W/s/.layerseal/signature.json"

# Section 2: the two seal layers, the config Cs, the signed manifest Ms.
cp "$W/mb.json" "$W/m/.layerseal/manifest.json"
seal_tar "$W/m" "$W/m.tar"
seal_tar "$W/s" "$W/s.tar"
gzip -n -c "$W/m.tar" > "$W/m.tgz"
gzip -n -c "$W/s.tar" > "$W/s.tgz"
M=$(blob "$W/m.tgz") S=$(blob "$W/s.tgz")
config ",\"sha256:$(sha "$W/m.tar")\",\"sha256:$(sha "$W/s.tar")\"" \
  ',{"created_by":"layerseal manifest seal"},{"created_by":"layerseal signature seal"}' > "$W/cs.json"
CS=$(blob "$W/cs.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d,"annotations":{"dev.layerseal.seal":"manifest"}},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d,"annotations":{"dev.layerseal.seal":"signature"}}]}' \
  "$CS" "$(size "$W/cs.json")" "$L1" "$L1_SIZE" "$M" "$(size "$W/m.tgz")" "$S" "$(size "$W/s.tgz")" > "$W/ms.json"
MS=$(blob "$W/ms.json")

# An OCI layout holding both manifests; skopeo pushes each (Mb brings Cb along).
mkdir -p "$W/layout/blobs"
mv "$W/blobs" "$W/layout/blobs/sha256"
printf '{"imageLayoutVersion":"1.0.0"}' > "$W/layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"base"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"signed"}}]}' \
  "$MB" "$(size "$W/mb.json")" "$MS" "$(size "$W/ms.json")" > "$W/layout/index.json"
for tag in base signed; do
  skopeo copy -q --dest-tls-verify=false "oci:$W/layout:$tag" "docker://$REG/$REPO:$tag"
done
echo "sha256:$MS"
