// ResourceSet: amounts of named resources (CPU, GPU, memory, custom), as a
// node's total, what is free, or what one task asks for. Amounts are kept
// in fixed point (1/10000), as Ray does, so fractional requests such as
// num_gpus=0.25 add and subtract exactly.
#ifndef MINIRAY_SCHEDULER_RESOURCES_H_
#define MINIRAY_SCHEDULER_RESOURCES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>


namespace miniray {

class ResourceSet {
 public:
  static constexpr int64_t kUnit = 10000;

  ResourceSet() = default;
  // From any map of name -> amount (std::map, a protobuf map field).
  template <typename Map>
  static ResourceSet FromMap(const Map& amounts) {
    ResourceSet s;
    for (const auto& [name, amount] : amounts) s.AddAmount(name, amount);
    return s;
  }

  // True when every amount in `demand` is available here.
  bool Contains(const ResourceSet& demand) const;
  // The first resource of `demand` this set can never satisfy (for the
  // "infeasible task" warning), or nullopt.
  std::optional<std::string> FirstMissing(const ResourceSet& demand) const;

  void Add(const ResourceSet& other);
  void Subtract(const ResourceSet& other);  // may go negative (oversubscribed)
  double Get(const std::string& name) const;
  // Only the named resource (e.g. the CPU part of a demand).
  ResourceSet Only(const std::string& name) const;
  // The CPUs: "CPU" and a placement group's "CPU_group_..." (what a worker
  // blocked in get() lends while it waits).
  ResourceSet CpuPart() const;
  // Only the resources that `names` has (whatever their amounts there).
  ResourceSet Restricted(const ResourceSet& names) const;
  void Erase(const std::string& name) { amounts_.erase(name); }
  bool empty() const { return amounts_.empty(); }
  bool operator==(const ResourceSet& o) const { return amounts_ == o.amounts_; }

  std::map<std::string, double> ToMap() const;
  // Readable text form, "{CPU: 1, GPU: 0.5}" (for messages).
  std::string ToString() const;
  // A compact key, equal for equal sets (a scheduling class): built per
  // task, so without streams or float formatting.
  std::string Key() const;

 private:
  void AddAmount(const std::string& name, double amount);
  std::map<std::string, int64_t> amounts_;  // fixed point, kUnit = 1.0
};

}  // namespace miniray

#endif  // MINIRAY_SCHEDULER_RESOURCES_H_
