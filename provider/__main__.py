"""The mlops component package's provider (source-based: `pulumi package add` runs this).

Pulumi's component provider host infers the schema from the components' typed Args and
constructs them when a program in any Pulumi language (YAML, TypeScript, Go, C#, Java)
declares `mlops:index:MlopsStack` and the others. The components and the version come from
the installed SDK (requirements.txt installs the repository this folder belongs to).
"""

from pulumi.provider.experimental import component_provider_host

from mlops_components.components.package import COMPONENTS, PACKAGE_NAME, package_version

if __name__ == "__main__":
    component_provider_host(list(COMPONENTS), PACKAGE_NAME, version=package_version())
