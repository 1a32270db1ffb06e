// PlacementGroups: the bundles of resources that placement groups reserve
// (as Ray's ray.util.placement_group), and how tasks placed in one ask for
// them.
//
// A group is a list of bundles (each a ResourceSet) and a strategy. It is
// pending until all its bundles fit in what is free at once; then they are
// taken together and become resources of their own, named as Ray names
// them, for the group's tasks to use:
//
//   CPU_group_<pg>        the group's CPUs, in any bundle
//   CPU_group_<i>_<pg>    bundle i's CPUs (i: the group's index of the
//                         bundle; a node holding part of a group that
//                         spans nodes has only some of them)
//   bundle_group_<pg>, bundle_group_<i>_<pg>   1000 per bundle: a task in
//                         the group asks a sliver, so that even a task
//                         asking for nothing else waits for the group.
//
// (<pg> is the group id in hex.) Removing a group takes those resources
// away and gives the bundles back. A group made on this node alone holds
// every bundle here: PACK, SPREAD and STRICT_PACK are satisfied by it;
// STRICT_SPREAD of more than one bundle cannot be, and stays pending. A
// group that spans nodes is placed by its driver (cluster_router.py), which
// asks each node for its part: the bundles it placed there, with their
// indices in the group.
//
// Not thread-safe: the Scheduler guards it with its own lock.
#ifndef MINIRAY_SCHEDULER_PLACEMENT_GROUPS_H_
#define MINIRAY_SCHEDULER_PLACEMENT_GROUPS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/id.h"
#include "scheduler/resources.h"

namespace miniray {

enum class PlacementStrategy { kPack, kSpread, kStrictPack, kStrictSpread };

struct PlacementGroup {
  enum State { kPending, kCreated, kRemoved };
  std::string id_hex;
  std::string name;
  PlacementStrategy strategy = PlacementStrategy::kPack;
  std::vector<ResourceSet> bundles;
  std::vector<int> bundle_indices;  // the group's index of each; empty: 0, 1, ...
  State state = kPending;
  JobID job;              // the job that made it: removed when it ends...
  bool detached = false;  // ...unless detached
  uint64_t order = 0;  // creation order: pending groups are served FIFO
};

class PlacementGroups {
 public:
  // Adds a pending group; false if the id is taken.
  bool Add(PlacementGroup group);
  // The pending groups, oldest first.
  std::vector<PlacementGroup*> Pending();
  PlacementGroup* Find(const std::string& id_hex);
  std::vector<const PlacementGroup*> All() const;

  // Whether a group can ever be placed on one node of `total` resources.
  static bool Feasible(const PlacementGroup& group, const ResourceSet& total);
  // The sum of its bundles: what reserving it takes from the free pool.
  static ResourceSet Demand(const PlacementGroup& group);
  // The group's own resources (see the top of this file).
  static ResourceSet GroupResources(const PlacementGroup& group);
  // The group's index of its i-th bundle here.
  static int IndexOf(const PlacementGroup& group, size_t i);
  // A task's demand inside group `id_hex` (bundle `index`, or any if < 0).
  static ResourceSet Rewrite(const ResourceSet& demand, const std::string& id_hex, int index);
  // The group id a resource name of a group refers to, if it is one.
  static std::optional<std::string> GroupOf(const std::string& resource);

 private:
  std::map<std::string, PlacementGroup> groups_;
  uint64_t next_order_ = 0;
};

}  // namespace miniray

#endif  // MINIRAY_SCHEDULER_PLACEMENT_GROUPS_H_
