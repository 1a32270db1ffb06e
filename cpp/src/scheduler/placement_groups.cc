#include "scheduler/placement_groups.h"

#include <algorithm>

namespace miniray {
namespace {

constexpr double kBundleUnits = 1000;     // bundle_group_* per bundle
constexpr double kTaskBundleShare = 0.001;  // what one task in a group asks

std::string Named(const std::string& resource, const std::string& id_hex, int index) {
  return index < 0 ? resource + "_group_" + id_hex
                   : resource + "_group_" + std::to_string(index) + "_" + id_hex;
}

}  // namespace

bool PlacementGroups::Add(PlacementGroup group) {
  if (groups_.count(group.id_hex)) return false;
  group.order = next_order_++;
  std::string id = group.id_hex;
  groups_.emplace(std::move(id), std::move(group));
  return true;
}

std::vector<PlacementGroup*> PlacementGroups::Pending() {
  std::vector<PlacementGroup*> out;
  for (auto& [id, g] : groups_) {
    if (g.state == PlacementGroup::kPending) out.push_back(&g);
  }
  std::sort(out.begin(), out.end(),
            [](const PlacementGroup* a, const PlacementGroup* b) { return a->order < b->order; });
  return out;
}

PlacementGroup* PlacementGroups::Find(const std::string& id_hex) {
  auto it = groups_.find(id_hex);
  return it == groups_.end() ? nullptr : &it->second;
}

std::vector<const PlacementGroup*> PlacementGroups::All() const {
  std::vector<const PlacementGroup*> out;
  for (const auto& [id, g] : groups_) out.push_back(&g);
  std::sort(out.begin(), out.end(), [](const PlacementGroup* a, const PlacementGroup* b) {
    return a->order < b->order;
  });
  return out;
}

bool PlacementGroups::Feasible(const PlacementGroup& group, const ResourceSet& total) {
  if (group.strategy == PlacementStrategy::kStrictSpread && group.bundles.size() > 1) {
    return false;  // one bundle per node, and this is one node
  }
  return total.Contains(Demand(group));
}

ResourceSet PlacementGroups::Demand(const PlacementGroup& group) {
  ResourceSet sum;
  for (const auto& b : group.bundles) sum.Add(b);
  return sum;
}

ResourceSet PlacementGroups::GroupResources(const PlacementGroup& group) {
  std::map<std::string, double> named;
  for (size_t i = 0; i < group.bundles.size(); ++i) {
    std::map<std::string, double> bundle = group.bundles[i].ToMap();
    bundle["bundle"] = kBundleUnits;
    for (const auto& [resource, amount] : bundle) {
      named[Named(resource, group.id_hex, -1)] += amount;
      named[Named(resource, group.id_hex, IndexOf(group, i))] += amount;
    }
  }
  return ResourceSet::FromMap(named);
}

int PlacementGroups::IndexOf(const PlacementGroup& group, size_t i) {
  return i < group.bundle_indices.size() ? group.bundle_indices[i] : static_cast<int>(i);
}

ResourceSet PlacementGroups::Rewrite(const ResourceSet& demand, const std::string& id_hex,
                                     int index) {
  std::map<std::string, double> out;
  for (const auto& [resource, amount] : demand.ToMap()) out[Named(resource, id_hex, index)] = amount;
  out[Named("bundle", id_hex, index)] = kTaskBundleShare;
  return ResourceSet::FromMap(out);
}

std::optional<std::string> PlacementGroups::GroupOf(const std::string& resource) {
  size_t at = resource.find("_group_");
  if (at == std::string::npos) return std::nullopt;
  size_t last = resource.rfind('_');
  if (last == std::string::npos || last < at) return std::nullopt;
  return resource.substr(last + 1);
}

}  // namespace miniray
