#include "scheduler/resources.h"

#include <cmath>
#include <sstream>

namespace miniray {

void ResourceSet::AddAmount(const std::string& name, double amount) {
  int64_t v = static_cast<int64_t>(std::llround(amount * kUnit));
  if (v != 0) amounts_[name] += v;
}

bool ResourceSet::Contains(const ResourceSet& demand) const {
  for (const auto& [name, amount] : demand.amounts_) {
    auto it = amounts_.find(name);
    int64_t have = it == amounts_.end() ? 0 : it->second;
    if (have < amount) return false;
  }
  return true;
}

std::optional<std::string> ResourceSet::FirstMissing(
    const ResourceSet& demand) const {
  for (const auto& [name, amount] : demand.amounts_) {
    auto it = amounts_.find(name);
    if (it == amounts_.end() || it->second < amount) return name;
  }
  return std::nullopt;
}

void ResourceSet::Add(const ResourceSet& other) {
  for (const auto& [name, amount] : other.amounts_) amounts_[name] += amount;
}

void ResourceSet::Subtract(const ResourceSet& other) {
  for (const auto& [name, amount] : other.amounts_) amounts_[name] -= amount;
}

ResourceSet ResourceSet::CpuPart() const {
  ResourceSet out;
  for (const auto& [name, amount] : amounts_) {
    if (name == "CPU" || name.rfind("CPU_group_", 0) == 0) out.amounts_[name] = amount;
  }
  return out;
}

ResourceSet ResourceSet::Restricted(const ResourceSet& names) const {
  ResourceSet out;
  for (const auto& [name, amount] : amounts_) {
    if (names.amounts_.count(name)) out.amounts_[name] = amount;
  }
  return out;
}

double ResourceSet::Get(const std::string& name) const {
  auto it = amounts_.find(name);
  return it == amounts_.end() ? 0.0 : static_cast<double>(it->second) / kUnit;
}

ResourceSet ResourceSet::Only(const std::string& name) const {
  ResourceSet s;
  auto it = amounts_.find(name);
  if (it != amounts_.end()) s.amounts_[name] = it->second;
  return s;
}

std::map<std::string, double> ResourceSet::ToMap() const {
  std::map<std::string, double> out;
  for (const auto& [name, amount] : amounts_) out[name] = static_cast<double>(amount) / kUnit;
  return out;
}

std::string ResourceSet::Key() const {
  std::string key;
  for (const auto& [name, amount] : amounts_) {
    key += name;
    key += '=';
    key += std::to_string(amount);
    key += ';';
  }
  return key;
}

std::string ResourceSet::ToString() const {
  std::ostringstream os;
  os << "{";
  bool first = true;
  for (const auto& [name, amount] : amounts_) {
    if (!first) os << ", ";
    first = false;
    os << name << ": " << static_cast<double>(amount) / kUnit;
  }
  os << "}";
  return os.str();
}

}  // namespace miniray
