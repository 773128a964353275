# `cmake --install build [--prefix DIR]` (make install): the embeddable library and the CLI.
#   include/claimcheck/...                      public headers
#   lib/libclaimcheck_{core,amqp,protocol,s3,refstore,pipeline}.a
#   lib/cmake/claimcheck/                       find_package(claimcheck CONFIG) → claimcheck::claimcheck
#   lib/pkgconfig/claimcheck.pc                 pkg-config --cflags --libs claimcheck
#   bin/claimcheck                              the CLI
# (lib/ is CMAKE_INSTALL_LIBDIR: lib/x86_64-linux-gnu for the prefix /usr on Debian.)
# Both the CMake package and claimcheck.pc are relocatable: they find the prefix from their own path.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CLAIMCHECK_LAYERS claimcheck_core claimcheck_amqp claimcheck_protocol claimcheck_s3 claimcheck_refstore claimcheck_pipeline)
foreach(layer IN LISTS CLAIMCHECK_LAYERS)
  string(REPLACE "claimcheck_" "" short ${layer})
  set_target_properties(${layer} PROPERTIES EXPORT_NAME ${short})  # claimcheck::core, claimcheck::s3, ...
endforeach()
# claimcheck::claimcheck: everything (the pipeline layer pulls in the others).
add_library(claimcheck_all INTERFACE)
target_link_libraries(claimcheck_all INTERFACE claimcheck_pipeline)
set_target_properties(claimcheck_all PROPERTIES EXPORT_NAME claimcheck)
add_library(claimcheck::claimcheck ALIAS claimcheck_all)

install(TARGETS ${CLAIMCHECK_LAYERS} claimcheck_all EXPORT claimcheckTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/claimcheck DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev
  FILES_MATCHING PATTERN "*.h")
set(CLAIMCHECK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/claimcheck)
install(EXPORT claimcheckTargets NAMESPACE claimcheck:: DESTINATION ${CLAIMCHECK_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(cmake/claimcheckConfig.cmake.in ${CMAKE_BINARY_DIR}/claimcheckConfig.cmake
  INSTALL_DESTINATION ${CLAIMCHECK_CMAKE_DIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/claimcheckConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/claimcheckConfig.cmake ${CMAKE_BINARY_DIR}/claimcheckConfigVersion.cmake
  DESTINATION ${CLAIMCHECK_CMAKE_DIR} COMPONENT dev)

# claimcheck.pc finds the prefix from its own directory (${pcfiledir}), so --prefix at install time holds.
file(RELATIVE_PATH CLAIMCHECK_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" CLAIMCHECK_PC_TO_PREFIX "${CLAIMCHECK_PC_TO_PREFIX}")
configure_file(cmake/claimcheck.pc.in ${CMAKE_BINARY_DIR}/claimcheck.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/claimcheck.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

install(TARGETS claimcheck RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
