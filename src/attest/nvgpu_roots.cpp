// The NVIDIA Device Identity CA, the root of every Hopper GPU's device
// certificate chain, as NVIDIA publishes it in NVIDIA/nvtrust
// (verifier_device_root.pem; SHA-256 of DER 102bf659...7b48).
// Built in so that no root ever comes from the evidence.
#include <cstdlib>
#include <string_view>

#include "attest/nvgpu.h"

namespace ward::attest::nvgpu {
namespace {

constexpr std::string_view kDeviceIdentityCaPem = R"(-----BEGIN CERTIFICATE-----
MIICCzCCAZCgAwIBAgIQLTZwscoQBBHB/sDoKgZbVDAKBggqhkjOPQQDAzA1MSIw
IAYDVQQDDBlOVklESUEgRGV2aWNlIElkZW50aXR5IENBMQ8wDQYDVQQKDAZOVklE
SUEwIBcNMjExMTA1MDAwMDAwWhgPOTk5OTEyMzEyMzU5NTlaMDUxIjAgBgNVBAMM
GU5WSURJQSBEZXZpY2UgSWRlbnRpdHkgQ0ExDzANBgNVBAoMBk5WSURJQTB2MBAG
ByqGSM49AgEGBSuBBAAiA2IABA5MFKM7+KViZljbQSlgfky/RRnEQScW9NDZF8SX
gAW96r6u/Ve8ZggtcYpPi2BS4VFu6KfEIrhN6FcHG7WP05W+oM+hxj7nyA1r1jkB
2Ry70YfThX3Ba1zOryOP+MJ9vaNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B
Af8EBAMCAQYwHQYDVR0OBBYEFFeF/4PyY8xlfWi3Olv0jUrL+0lfMB8GA1UdIwQY
MBaAFFeF/4PyY8xlfWi3Olv0jUrL+0lfMAoGCCqGSM49BAMDA2kAMGYCMQCPeFM3
TASsKQVaT+8S0sO9u97PVGCpE9d/I42IT7k3UUOLSR/qvJynVOD1vQKVXf0CMQC+
EY55WYoDBvs2wPAH1Gw4LbcwUN8QCff8bFmV4ZxjCRr4WXTLFHBKjbfneGSBWwA=
-----END CERTIFICATE-----
)";

}  // namespace

const crypto::Certificate& nvidia_device_root() {
  static const crypto::Certificate root = [] {
    auto cert = crypto::Certificate::from_pem(kDeviceIdentityCaPem);
    if (!cert) std::abort();
    return *cert;
  }();
  return root;
}

}  // namespace ward::attest::nvgpu
