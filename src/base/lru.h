// A map of at most `capacity` entries by string key, the least recently
// used dropped first. Not thread-safe: its owner locks.
#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace ward {

template <class V>
class Lru {
 public:
  // A capacity of 0 keeps nothing.
  explicit Lru(std::size_t capacity) : capacity_(capacity) {}
  Lru(const Lru&) = delete;
  Lru& operator=(const Lru&) = delete;

  // The entry, made the most recently used; nullptr when absent. Valid until
  // the next put or clear.
  const V* find(std::string_view key) {
    const auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  void put(std::string key, V value) {
    if (capacity_ == 0) return;
    if (const auto it = index_.find(key); it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (order_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(std::move(key), std::move(value));
    index_.emplace(order_.front().first, order_.begin());
  }

  std::size_t size() const { return order_.size(); }
  void clear() {
    index_.clear();
    order_.clear();
  }

 private:
  using Entry = std::pair<std::string, V>;
  std::size_t capacity_;
  std::list<Entry> order_;  // most recently used first; the index's keys view its strings
  std::unordered_map<std::string_view, typename std::list<Entry>::iterator> index_;
};

}  // namespace ward
