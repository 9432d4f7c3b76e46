#include "tests/badfree/expect.h"

#include <cstring>
#include <regex>
#include <sstream>
#include <vector>

namespace badfree {

std::string RegexEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (strchr(".[]{}()\\*+?^$|", c) != nullptr) out += '\\';
    out += c;
  }
  return out;
}

std::string ReportRegex(bf_expect_t expect, const std::string& ptr, const std::string& strategy) {
  const std::string p = RegexEscape(ptr);
  const std::string s = " \\(" + RegexEscape(strategy) + "\\)";
  const std::string interior = ": not the start of a block";
  const std::string foreign = ": not memory of this heap";
  const std::string head = "stratalloc: ";
  switch (expect) {
    case BF_DOUBLE: return head + "double free of " + p + s;
    case BF_INTERIOR: return head + "invalid free of " + p + s + interior;
    case BF_FOREIGN: return head + "invalid free of " + p + s + foreign;
    case BF_OUTSIDE:
      return head + "(double free of " + p + s + "|invalid free of " + p + s +
             ": not (the start of a block|memory of this heap))";
    case BF_REALLOC_FREED: return head + "realloc of freed pointer " + p + s;
    case BF_REALLOC_INTERIOR: return head + "invalid realloc of " + p + s + interior;
    case BF_REALLOC_FOREIGN: return head + "invalid realloc of " + p + s + foreign;
    case BF_USABLE_FREED: return head + "malloc_usable_size of freed pointer " + p + s;
    case BF_USABLE_INTERIOR: return head + "invalid malloc_usable_size of " + p + s + interior;
    case BF_USABLE_FOREIGN: return head + "invalid malloc_usable_size of " + p + s + foreign;
  }
  return "(unknown expectation)";
}

bool CheckReport(const std::string& output, bf_expect_t expect, const std::string& strategy,
                 std::string* why) {
  std::vector<std::string> lines;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const std::string prefix = BF_ANNOUNCE_PREFIX;
  size_t announced = lines.size();
  for (size_t i = 0; i < lines.size(); i++)
    if (lines[i].compare(0, prefix.size(), prefix) == 0) announced = i;
  if (announced == lines.size()) {
    *why = "the case never announced its pointer (\"" + prefix + "0x...\"): it failed in setup";
    return false;
  }
  const std::string ptr = lines[announced].substr(prefix.size());
  const std::string re = ReportRegex(expect, ptr, strategy);
  const std::regex regex(re);
  for (size_t i = announced + 1; i < lines.size(); i++)
    if (std::regex_match(lines[i], regex)) return true;
  *why = "no line after the announcement of " + ptr + " matches the regex\n    " + re;
  return false;
}

}  // namespace badfree
