# `make package`: build/claimcheck_<version>_amd64.deb (CPack DEB) — the CLI as a system service.
#   /usr/bin/claimcheck
#   /lib/systemd/system/claimcheck-{consumer@,coordinator,outbox@}.service   (deploy/systemd/)
#   /etc/claimcheck/{consumer-example,coordinator,outbox-example}.env        (deploy/etc/: 0600, conffiles)
#   /usr/share/doc/claimcheck/{README.md,operations.md}
# postinst creates the system user `claimcheck` (deploy/debian/). Only the install component `deb` goes into
# the package, and that component is EXCLUDE_FROM_ALL: `cmake --install` never writes /etc or /lib.
set(CLAIMCHECK_DEB_DIR ${CMAKE_SOURCE_DIR}/deploy)
# cpack (and the install target) must not build `all` (tests, benchmarks) first: `make package` builds the
# CLI, the only target the package holds.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
install(TARGETS claimcheck RUNTIME DESTINATION usr/bin COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${CLAIMCHECK_DEB_DIR}/systemd/claimcheck-consumer@.service
              ${CLAIMCHECK_DEB_DIR}/systemd/claimcheck-coordinator.service
              ${CLAIMCHECK_DEB_DIR}/systemd/claimcheck-outbox@.service
  DESTINATION lib/systemd/system COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${CLAIMCHECK_DEB_DIR}/etc/consumer-example.env
              ${CLAIMCHECK_DEB_DIR}/etc/coordinator.env
              ${CLAIMCHECK_DEB_DIR}/etc/outbox-example.env
  DESTINATION etc/claimcheck PERMISSIONS OWNER_READ OWNER_WRITE COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/operations.md
  DESTINATION usr/share/doc/claimcheck COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME claimcheck)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "claimcheck maintainers <claimcheck@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "claim-check messaging for RabbitMQ with reference-counted S3 cleanup")
set(CPACK_PACKAGE_DESCRIPTION
  "Large payloads go to S3-compatible storage, RabbitMQ carries small pointers, and a coordinator deletes each
object once every recipient confirmed it or it expired. Ships the claimcheck CLI and systemd units for the
coordinator, one consumer per recipient and one outbox (produce --watch) per directory.")
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR})
# Only the `deb` component, installed relative to / (its destinations are usr/bin, lib/..., etc/...).
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};claimcheck;deb;/")
set(CPACK_PACKAGING_INSTALL_PREFIX /)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # claimcheck_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Shared-library dependencies come from dpkg-shlibdeps (package dpkg-dev); postinst needs adduser.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CLAIMCHECK_DEB_DIR}/debian/postinst ${CLAIMCHECK_DEB_DIR}/debian/prerm ${CLAIMCHECK_DEB_DIR}/debian/postrm
  ${CLAIMCHECK_DEB_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)  # scripts 0755, conffiles 0644
include(CPack)
