// KvStore: the node's small key-value table (Ray's internal KV). Drivers
// export functions and actor classes here once ("fn:<id>" -> cloudpickle
// bytes); workers fetch and cache them.
//
// Thread-safety: none; the node's lock guards it.
#ifndef MINIRAY_NODE_KV_STORE_H_
#define MINIRAY_NODE_KV_STORE_H_

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace miniray {

class KvStore {
 public:
  // Stores `value` under `key`; an existing value is kept unless `overwrite`.
  void Put(const std::string& key, std::string value, bool overwrite) {
    bool changed = overwrite ? true : !map_.count(key);
    if (!changed) return;
    map_[key] = std::move(value);
    changed_.insert(key);
  }
  // The keys written since the last call (for the GCS's copy), each once.
  std::vector<std::string> TakeChanged() {
    std::vector<std::string> keys(changed_.begin(), changed_.end());
    changed_.clear();
    return keys;
  }
  // The entries whose keys start with `prefix` (a scan of the table).
  std::vector<std::pair<std::string, std::string>> Scan(const std::string& prefix) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : map_) {
      if (k.compare(0, prefix.size(), prefix) == 0) out.emplace_back(k, v);
    }
    return out;
  }
  // The value under `key`, or null.
  const std::string* Get(const std::string& key) const {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  size_t size() const { return map_.size(); }

 private:
  std::unordered_map<std::string, std::string> map_;
  std::unordered_set<std::string> changed_;
};

}  // namespace miniray

#endif  // MINIRAY_NODE_KV_STORE_H_
