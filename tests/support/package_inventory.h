// Package inventories for tests of their delivery (issue 18): a valid
// "layerseal.packages/v1" attachment for an image, made with the library's own serializer
// (verifier/layers/packages.h), so that what a test sends is what an agent would send.
// Header-only; link layerseal_layers. Thread-safety: pure functions.
#ifndef LAYERSEAL_TESTS_SUPPORT_PACKAGE_INVENTORY_H_
#define LAYERSEAL_TESTS_SUPPORT_PACKAGE_INVENTORY_H_

#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/layers/packages.h"

namespace layerseal::testing {

// A layer digest made of one repeated hex digit ('1' -> "sha256:111...1").
inline std::string TestLayerDigest(char hex) { return "sha256:" + std::string(64, hex); }

// An inventory of `image` (debian 12, three layers, the bottom one the base) whose packages
// (name, version; amd64 debs) layer 2 added.
inline layers::PackageInventory TestInventory(
    const std::string& image, const std::vector<std::pair<std::string, std::string>>& packages) {
  layers::PackageInventory inv;
  inv.image = image;
  inv.base_layers = 1;
  inv.layers = 3;
  inv.distro = layers::Distro{"debian", "12"};
  for (const auto& [name, version] : packages) {
    layers::InventoryPackage p;
    p.package.ecosystem = layers::Ecosystem::kDeb;
    p.package.name = name;
    p.package.version = version;
    p.package.arch = "amd64";
    p.purl = layers::PackageUrl(p.package, inv.distro);
    p.layer_index = 2;
    p.layer_digest = TestLayerDigest('2');
    inv.packages.push_back(std::move(p));
  }
  return inv;
}

// TestInventory serialized; aborts (a broken test) if the serializer refuses it.
inline std::string TestAttachment(
    const std::string& image, const std::vector<std::pair<std::string, std::string>>& packages) {
  absl::StatusOr<std::string> doc = layers::SerializePackagesAttachment(TestInventory(image, packages));
  if (!doc.ok()) {
    std::cerr << "TestAttachment: " << doc.status() << "\n";
    std::abort();
  }
  return *doc;
}

}  // namespace layerseal::testing

#endif  // LAYERSEAL_TESTS_SUPPORT_PACKAGE_INVENTORY_H_
