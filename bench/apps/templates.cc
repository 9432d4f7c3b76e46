// Template-heavy C++17 program compiled by bench/apps/gxx.sh: UNITS distinct
// instantiations of Unit<I>, each through one of four container sets
// (std::map of tuples; std::unordered_map + std::sort; std::vector of records
// with std::optional/std::tuple + std::sort/std::lower_bound; std::variant +
// std::visit + std::stable_sort), recursive variadic templates, and constexpr
// tables checked by static_assert. The printed total is recomputed
// independently by gxx.sh (python3) and compared.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#ifndef UNITS
#define UNITS 16
#endif

constexpr std::uint64_t MOD = 1000000007ULL;

// ---- compile-time work ---------------------------------------------------
template <int N>
struct Fib {
  static constexpr std::uint64_t value = (Fib<N - 1>::value + Fib<N - 2>::value) % MOD;
};
template <>
struct Fib<1> {
  static constexpr std::uint64_t value = 1;
};
template <>
struct Fib<0> {
  static constexpr std::uint64_t value = 0;
};

template <std::size_t N>
constexpr std::array<bool, N> sieve() {
  std::array<bool, N> composite{};
  composite[0] = composite[1] = true;
  for (std::size_t i = 2; i * i < N; ++i)
    if (!composite[i])
      for (std::size_t j = i * i; j < N; j += i) composite[j] = true;
  return composite;
}
constexpr auto kSieve = sieve<6000>();
constexpr std::pair<std::uint64_t, std::uint64_t> prime_stats() {
  std::uint64_t count = 0, sum = 0;
  for (std::size_t i = 0; i < kSieve.size(); ++i)
    if (!kSieve[i]) ++count, sum += i;
  return {count, sum};
}
static_assert(prime_stats().first == 783, "primes below 6000");
static_assert(prime_stats().second == 2174734, "sum of primes below 6000");
static_assert(Fib<90>::value == 2880067194370816120ULL % MOD, "Fib(90) mod p");

// ---- recursive variadic templates ----------------------------------------
template <typename... Ts>
struct TypeList {};

template <typename List>
struct Size;
template <typename... Ts>
struct Size<TypeList<Ts...>> : std::integral_constant<std::size_t, sizeof...(Ts)> {};

template <typename F, typename... Ts>
constexpr std::uint64_t fold_sizes(TypeList<Ts...>, F f) {
  return (std::uint64_t{0} + ... + f(sizeof(Ts)));
}

template <int I>
struct Tag {
  int v;
  friend bool operator<(Tag a, Tag b) { return a.v < b.v; }
  friend bool operator==(Tag a, Tag b) { return a.v == b.v; }
};

template <int I>
struct Rec {
  int key;
  std::string name;
  std::optional<long> extra;
  std::tuple<Tag<I>, double, unsigned> t;
};

template <int I>
struct RecHash {
  std::size_t operator()(const std::tuple<Tag<I>, int>& k) const {
    return std::hash<int>()(std::get<0>(k).v) * 31u + std::hash<int>()(std::get<1>(k));
  }
};

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

// The checksum every unit computes, in a plain form gxx.sh mirrors:
//   n = 200 + 37 * (I % 11); p = 7919 + 2 * I; m = 100003
//   keys k_j = (j * p) % m for j in [0, n), visited in increasing order;
//   h = (h * 31 + k_j + (len("r" + str(k_j)) if k_j % 3 == 0 else 0)) % MOD, from h = I
// Each unit gets there through another set of containers (I % 4), so every
// unit instantiates a distinct set of library templates.
template <int I>
struct Unit {
  static constexpr int n = 200 + 37 * (I % 11);
  static constexpr std::uint64_t p = 7919 + 2 * I;
  static constexpr std::uint64_t m = 100003;
  static int key(int j) { return static_cast<int>((static_cast<std::uint64_t>(j) * p) % m); }
  static std::uint64_t step(std::uint64_t h, int k, std::size_t name_len) {
    return (h * 31 + static_cast<std::uint64_t>(k) + (k % 3 == 0 ? name_len : 0)) % MOD;
  }
  static std::uint64_t run() {
    std::uint64_t h = I;
    if constexpr (I % 4 == 0) {
      std::map<std::tuple<Tag<I>, int, std::string>, std::vector<std::pair<int, double>>> tree;
      for (int j = 0; j < n; ++j) tree[{Tag<I>{key(j)}, j, "r" + std::to_string(key(j))}].push_back({j, j * 0.5});
      for (const auto& [k, vec] : tree) {
        if (vec.size() != 1) return 0;
        h = step(h, std::get<0>(k).v, std::get<2>(k).size());
      }
    } else if constexpr (I % 4 == 1) {
      std::unordered_map<std::tuple<Tag<I>, int>, std::string, RecHash<I>> hashed;
      for (int j = 0; j < n; ++j) hashed[{Tag<I>{key(j)}, j}] = "r" + std::to_string(key(j));
      std::vector<std::pair<int, std::string>> sorted;
      for (const auto& [k, name] : hashed) sorted.emplace_back(std::get<0>(k).v, name);
      std::sort(sorted.begin(), sorted.end());
      for (const auto& [k, name] : sorted) h = step(h, k, name.size());
    } else if constexpr (I % 4 == 2) {
      std::vector<Rec<I>> recs;
      for (int j = 0; j < n; ++j) {
        int k = key(j);
        std::string name = "r" + std::to_string(k);
        std::optional<long> extra;
        if (k % 3 == 0) extra = static_cast<long>(name.size());
        recs.push_back(Rec<I>{k, name, extra, {Tag<I>{k}, k * 0.25, static_cast<unsigned>(j)}});
      }
      std::sort(recs.begin(), recs.end(), [](const Rec<I>& a, const Rec<I>& b) { return a.key < b.key; });
      for (const auto& r : recs) {
        auto it = std::lower_bound(recs.begin(), recs.end(), r.key,
                                   [](const Rec<I>& a, int k) { return a.key < k; });
        if (it->key != r.key) return 0;
        h = (h * 31 + static_cast<std::uint64_t>(r.key) + static_cast<std::uint64_t>(r.extra.value_or(0))) % MOD;
      }
    } else {
      using V = std::variant<int, std::string, Tag<I>>;
      std::vector<std::pair<int, V>> vars;
      for (int j = 0; j < n; ++j) {
        int k = key(j);
        if (j % 3 == 0) vars.emplace_back(k, V{std::in_place_index<0>, k});
        else if (j % 3 == 1) vars.emplace_back(k, V{std::in_place_index<1>, "r" + std::to_string(k)});
        else vars.emplace_back(k, V{std::in_place_index<2>, Tag<I>{k}});
      }
      std::stable_sort(vars.begin(), vars.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (const auto& [k, v] : vars) {
        std::size_t len = std::visit(Overloaded{[](int x) { return std::to_string(x).size() + 1; },
                                                [](const std::string& s) { return s.size(); },
                                                [](Tag<I> t) { return std::to_string(t.v).size() + 1; }},
                                     v);
        h = step(h, k, len);
      }
    }
    using L = TypeList<Tag<I>, Rec<I>, std::tuple<Tag<I>, int>, std::pair<Rec<I>, Tag<I>>>;
    constexpr std::uint64_t sz = fold_sizes(L{}, [](std::size_t s) { return std::uint64_t{s > 0}; });
    static_assert(sz == Size<L>::value, "one per type");
    return h;
  }
};

template <std::size_t... Is>
std::uint64_t run_all(std::index_sequence<Is...>) {
  std::uint64_t total = 0;
  bool ok = true;
  ((ok = ok && Unit<static_cast<int>(Is)>::run() != 0,
    total = (total * 1000003 + Unit<static_cast<int>(Is)>::run()) % MOD),
   ...);
  return ok ? total : 0;
}

int main() {
  std::uint64_t total = run_all(std::make_index_sequence<UNITS>{});
  std::printf("units %d\n", UNITS);
  std::printf("primes %llu %llu\n", static_cast<unsigned long long>(prime_stats().first),
              static_cast<unsigned long long>(prime_stats().second));
  std::printf("fib90 %llu\n", static_cast<unsigned long long>(Fib<90>::value));
  std::printf("total %llu\n", static_cast<unsigned long long>(total));
  return total == 0;
}
