// schemas/admin-openapi.yaml describes exactly the admin console's routes, with their query
// parameters, their security and the errors every client has to expect.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include "admin/console_api.h"

namespace grove::admin {
namespace {

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

class AdminOpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override { doc_ = YAML::LoadFile(GROVE_ADMIN_OPENAPI); }
  YAML::Node Operation(const ConsoleApi::RouteInfo& route) {
    return doc_["paths"][route.pattern][Lower(route.method)];
  }
  YAML::Node doc_;
};

TEST_F(AdminOpenApiTest, IsOpenApi3WithTheSharedParts) {
  ASSERT_TRUE(doc_["openapi"]);
  EXPECT_TRUE(doc_["openapi"].as<std::string>().starts_with("3.0")) << doc_["openapi"];
  EXPECT_TRUE(doc_["components"]["schemas"]["Error"]);
  EXPECT_TRUE(doc_["components"]["securitySchemes"]["bearer"]);
  EXPECT_TRUE(doc_["components"]["securitySchemes"]["cookie"]);
  EXPECT_EQ(doc_["components"]["securitySchemes"]["cookie"]["name"].as<std::string>(),
            std::string(kSessionCookie));
}

TEST_F(AdminOpenApiTest, EveryServedRouteIsDescribedWithItsErrors) {
  for (const ConsoleApi::RouteInfo& route : ConsoleApi::Routes()) {
    const std::string name = route.method + " " + route.pattern;
    const YAML::Node operation = Operation(route);
    ASSERT_TRUE(operation && operation.IsMap()) << name << " is missing from admin-openapi.yaml";
    EXPECT_TRUE(operation["operationId"]) << name;
    const YAML::Node responses = operation["responses"];
    ASSERT_TRUE(responses && responses.IsMap()) << name;
    if (route.session) {
      EXPECT_TRUE(responses["401"]) << name << " does not list 401";
      EXPECT_FALSE(operation["security"] && operation["security"].size() == 0)
          << name << " needs a session but says it does not";
    } else {
      ASSERT_TRUE(operation["security"]) << name << " is open: it must say security: []";
      EXPECT_EQ(operation["security"].size(), 0u) << name;
    }
    if (route.pattern.find('{') != std::string::npos) {
      EXPECT_TRUE(responses["404"]) << name << " does not list 404";
    }
    if (route.method == "POST" || route.method == "PUT") {
      for (const char* status : {"400", "413", "415"}) {
        EXPECT_TRUE(responses[status]) << name << " does not list " << status;
      }
      if (route.session) {
        EXPECT_TRUE(responses["403"]) << name << " does not list 403 (CSRF)";
      }
    }
    EXPECT_TRUE(responses["503"]) << name << " does not list 503";
  }
  EXPECT_TRUE(doc_["paths"]["/api/v1/admin/login"]["post"]["responses"]["429"]);
  for (const char* path : {"/api/v1/admin/audit/entries", "/api/v1/admin/audit/export"}) {
    EXPECT_TRUE(doc_["paths"][path]["get"]["responses"]["400"]) << path;  // bad filters
  }
}

TEST_F(AdminOpenApiTest, DescribesNoRouteTheConsoleLacks) {
  std::set<std::string> served;
  for (const ConsoleApi::RouteInfo& route : ConsoleApi::Routes()) {
    served.insert(route.method + " " + route.pattern);
  }
  for (const auto& path : doc_["paths"]) {
    for (const auto& operation : path.second) {
      std::string method = operation.first.as<std::string>();
      if (method == "parameters" || method == "summary" || method == "description") continue;
      std::transform(method.begin(), method.end(), method.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      const std::string route = method + " " + path.first.as<std::string>();
      EXPECT_TRUE(served.contains(route)) << route << " is in admin-openapi.yaml but not served";
    }
  }
}

TEST_F(AdminOpenApiTest, EveryQueryParameterIsDescribedAndNoOther) {
  for (const ConsoleApi::RouteInfo& route : ConsoleApi::Routes()) {
    const YAML::Node operation = Operation(route);
    ASSERT_TRUE(operation) << route.pattern;
    std::set<std::string> documented;
    if (const YAML::Node parameters = operation["parameters"]) {
      for (YAML::Node parameter : parameters) {
        if (parameter["$ref"]) {  // "#/components/parameters/NAME"
          const std::string ref = parameter["$ref"].as<std::string>();
          parameter = doc_["components"]["parameters"][ref.substr(ref.rfind('/') + 1)];
          ASSERT_TRUE(parameter) << ref;
        }
        if (parameter["in"] && parameter["in"].as<std::string>() == "query") {
          documented.insert(parameter["name"].as<std::string>());
        }
      }
    }
    const std::set<std::string> served(route.query.begin(), route.query.end());
    EXPECT_EQ(documented, served) << route.method << " " << route.pattern;
  }
}

}  // namespace
}  // namespace grove::admin
